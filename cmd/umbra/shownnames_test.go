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
