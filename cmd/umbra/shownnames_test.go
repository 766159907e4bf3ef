package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Two configuration files whose names differ only in a byte that is not
// UTF-8 (0xe9) against the text \xe9 read apart in config check's
// errors, text and --json, by the one escape rule of every answer: the
// byte shows \xe9, the text \\xe9 (never U+FFFD).
func TestConfigCheckFileNamesReadApart(t *testing.T) {
	dir := t.TempDir()
	byteName, textName := filepath.Join(dir, "c\xe9.yaml"), filepath.Join(dir, `c\xe9.yaml`)
	for _, n := range []string{byteName, textName} {
		os.WriteFile(n, []byte("server:\n  name: mx.a.test\n  log_levl: debug\n"), 0o600)
	}
	shown := map[string]string{}
	for _, n := range []string{byteName, textName} {
		out, _ := exec.Command(umbraBin, "config", "check", n).CombinedOutput()
		jout, _ := exec.Command(umbraBin, "config", "check", "--json", n).Output()
		var res configCheckResult
		if err := json.Unmarshal(jout, &res); err != nil || len(res.Errors) == 0 {
			t.Fatalf("--json: %v\n%s", err, jout)
		}
		if strings.Contains(string(jout), `\ufffd`) || strings.ContainsRune(res.File+res.Errors[0], '\uFFFD') {
			t.Errorf("U+FFFD in %s", jout)
		}
		first := strings.SplitN(string(out), "\n", 2)[0]
		if !strings.HasPrefix(res.Errors[0], res.File+":") || !strings.HasPrefix(first, res.File+":") {
			t.Errorf("text %q and --json %q (file %q) disagree", first, res.Errors[0], res.File)
		}
		shown[n] = res.File
	}
	if shown[byteName] != filepath.Join(dir, `c\xe9.yaml`) || shown[textName] != filepath.Join(dir, `c\\xe9.yaml`) {
		t.Errorf("the byte shows %q, the text %q; want \\xe9 and \\\\xe9", shown[byteName], shown[textName])
	}
}

// The same holds for every line that names a file umbra was given: the
// summary of config check, db verify (text and --json, whose error
// agrees with its file), db restore: the byte shows \xe9, the text
// \\xe9, never U+FFFD.
func TestFileNamesReadApartInRefusals(t *testing.T) {
	dir := t.TempDir()
	byteName, textName := filepath.Join(dir, "c\xe9.yaml"), filepath.Join(dir, `c\xe9.yaml`)
	want := map[string]string{byteName: filepath.Join(dir, `c\xe9.yaml`), textName: filepath.Join(dir, `c\\xe9.yaml`)}
	for _, n := range []string{byteName, textName} {
		os.WriteFile(n, []byte("server:\n  name: mx.a.test\n  log_levl: debug\n"), 0o600)
		out, _ := exec.Command(umbraBin, "config", "check", n).CombinedOutput()
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if last := lines[len(lines)-1]; last != "umbra: "+want[n]+" is not valid" {
			t.Errorf("config check summary: %q, want the name %q", last, want[n])
		}
	}
	byteDB, textDB := filepath.Join(dir, "b\xe9.db"), filepath.Join(dir, `b\xe9.db`)
	want = map[string]string{byteDB: filepath.Join(dir, `b\xe9.db`), textDB: filepath.Join(dir, `b\\xe9.db`)}
	for _, n := range []string{byteDB, textDB} {
		os.WriteFile(n, []byte("junk\n"), 0o600)
		out, _ := exec.Command(umbraBin, "db", "verify", n).CombinedOutput()
		if !strings.Contains(string(out), want[n]) {
			t.Errorf("db verify: %q, want the name %q", out, want[n])
		}
		jout, _ := exec.Command(umbraBin, "db", "verify", "--json", n).Output()
		var res struct{ File, Error string }
		if err := json.Unmarshal(jout, &res); err != nil {
			t.Fatalf("db verify --json: %v\n%s", err, jout)
		}
		if res.File != want[n] || !strings.Contains(res.Error, want[n]) || strings.Contains(string(jout), `\ufffd`) {
			t.Errorf("db verify --json: %s, want the name %q in file and error", jout, want[n])
		}
	}
}

// dkim keygen names the key file it wrote, and the one it refuses to
// overwrite, by the same rule.
func TestDKIMKeygenNamesReadApart(t *testing.T) {
	dir := t.TempDir()
	byteDir, textDir := filepath.Join(dir, "k\xe9"), filepath.Join(dir, `k\xe9`)
	want := map[string]string{byteDir: filepath.Join(dir, `k\xe9`), textDir: filepath.Join(dir, `k\\xe9`)}
	for _, d := range []string{byteDir, textDir} {
		os.Mkdir(d, 0o700)
		out, err := exec.Command(umbraBin, "dkim", "keygen", "example.org", "s1", "--out", d).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "written to "+want[d]+"/example.org.s1.key\n") {
			t.Errorf("keygen: %v %q, want the name %q", err, out, want[d])
		}
		out, _ = exec.Command(umbraBin, "dkim", "keygen", "example.org", "s1", "--out", d).CombinedOutput()
		if !strings.Contains(string(out), want[d]+"/example.org.s1.key exists") {
			t.Errorf("keygen again: %q, want the name %q", out, want[d])
		}
	}
}

// db backup and message export -o name the file they were given by the
// rule, in what they print and in their refusals (text and --json): the
// byte 0xe9 shows \xe9, the text \xe9 shows \\xe9, never U+FFFD.
func TestBackupAndExportNamesReadApart(t *testing.T) {
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sinkAddr)
	startUmbra(t, cfg, listen)
	byteName, textName := filepath.Join(dir, "b\xe9.db"), filepath.Join(dir, `b\xe9.db`)
	want := map[string]string{byteName: filepath.Join(dir, `b\xe9.db`), textName: filepath.Join(dir, `b\\xe9.db`)}
	for _, n := range []string{byteName, textName} {
		out, code := cli(t, cfg, "db", "backup", n)
		if code != 0 || !strings.HasPrefix(out, "backup "+want[n]+": ") {
			t.Errorf("db backup: exit %d %q, want the name %q", code, out, want[n])
		}
		// The file exists now: refused here, naming it.
		_, errOut, code := cliAll(t, cfg, "db", "backup", n)
		if code == 0 || !strings.Contains(errOut, want[n]) || strings.Contains(errOut, "\uFFFD") {
			t.Errorf("db backup over it: exit %d %q, want the name %q", code, errOut, want[n])
		}
		os.Remove(n)
		jout, code := cli(t, cfg, "db", "backup", "--json", n)
		var res struct{ File string }
		if err := json.Unmarshal([]byte(jout), &res); err != nil || code != 0 || res.File != want[n] || strings.Contains(jout, `\ufffd`) {
			t.Errorf("db backup --json: exit %d %v %s, want the file %q", code, err, jout, want[n])
		}
	}
	// Into a directory that does not exist: refused here (exit 1),
	// naming the directory as given.
	byteDir, textDir := filepath.Join(dir, "m\xe9"), filepath.Join(dir, `m\xe9`)
	want = map[string]string{byteDir: filepath.Join(dir, `m\xe9`), textDir: filepath.Join(dir, `m\\xe9`)}
	for _, d := range []string{byteDir, textDir} {
		_, errOut, code := cliAll(t, cfg, "message", "export", "0000000000000001", "-o", filepath.Join(d, "out.eml"))
		if code != exitFailure || !strings.Contains(errOut, want[d]+"/") || strings.Contains(errOut, "\uFFFD") {
			t.Errorf("message export -o into %q: exit %d %q, want 1 naming %q", d, code, errOut, want[d])
		}
		_, errOut, code = cliAll(t, cfg, "db", "backup", filepath.Join(d, "q.db"))
		if code == 0 || !strings.Contains(errOut, want[d]+"/") || strings.Contains(errOut, "\uFFFD") {
			t.Errorf("db backup into %q: exit %d %q, want the name %q", d, code, errOut, want[d])
		}
	}
}
