package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"umbra/internal/admin"
)

// addr44k is a free TCP address on ip, a port of 14000-14999.
func addr44k(t testing.TB, ip string) string { return addrInRange(t, ip, 14000, 1000) }

// runBounded runs umbra with args, bounded in time: its combined output,
// standard output alone and exit code.
func runBounded(t *testing.T, args ...string) (combined, stdout string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, umbraBin, args...)
	var so, all strings.Builder
	cmd.Stdout = multiBuilder{&so, &all}
	cmd.Stderr = &all
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return all.String(), so.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return all.String(), so.String(), 0
}

type multiBuilder []*strings.Builder

func (m multiBuilder) Write(p []byte) (int, error) {
	for _, b := range m {
		b.Write(p)
	}
	return len(p), nil
}

// OPS-3 (rt30c F1): config check said "ok" (exit 0) for a
// mailbox.maildir serve refuses at its start and a reload refuses — one
// on a read-only file system, under /proc or /sys — although the
// shipped unit runs config check as ExecStartPre and the upgrade notes
// tell operators to run it: an "ok" followed by a start that fails. So
// for every directory serve makes and writes at its start before it
// opens anything (the Maildir root, the data directory, the tracking
// log's directory, the pickup directory): config check refuses at the
// setting's line what the start refuses, in the start's words, and
// makes nothing, for a directory it may make as much as for one it may
// not.
func TestOPS3ConfigCheckRefusesTheDirectoriesServeRefuses(t *testing.T) {
	dir := t.TempDir()
	tag := fmt.Sprintf("umbra-check-%d", os.Getpid())
	write := func(data, maildir, tracking, pickup string) string {
		cfg := filepath.Join(dir, "hub.yaml")
		os.WriteFile(cfg, []byte(fmt.Sprintf(`server: {name: hub.dirs.test, data_dir: %s, admin_socket: %s, metrics_listen: ""}
accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: "off"}]
mailbox:
  maildir: %s
tracking:
  path: %s
pickup:
  directory: %s
%s`, data, filepath.Join(dir, "admin.sock"), maildir, tracking, pickup, submitConnector("in", addr44k(t, "127.0.0.170")))), 0o600)
		return cfg
	}
	okData, okMd, okTrk, okPick := filepath.Join(dir, "new", "data"), filepath.Join(dir, "new", "md"), filepath.Join(dir, "new", "trk", "tracking.log"), filepath.Join(dir, "new", "pickup")
	for _, c := range []struct{ key, what, path string }{
		{"maildir: ", "mailbox.maildir", "/proc/" + tag + "-md"},
		{"data_dir: ", "data directory", "/proc/" + tag + "-data"},
		{"path: ", "", "/proc/" + tag + "-trk"},
		{"directory: ", "pickup.directory", "/proc/" + tag + "-pickup"},
	} {
		data, md, trk, pick := okData, okMd, okTrk, okPick
		switch c.key {
		case "maildir: ":
			md = c.path
		case "data_dir: ":
			data = c.path
		case "path: ":
			trk = c.path + "/tracking.log"
		case "directory: ":
			pick = c.path
		}
		cfg := write(data, md, trk, pick)
		want := c.path + ": mkdir " + c.path + ": no such file or directory"
		out, _, code := runBounded(t, "config", "check", cfg)
		if code != exitConfig || !strings.Contains(out, lineOf(t, cfg, c.key+c.path)) || !strings.Contains(out, c.what+" "+want) {
			t.Errorf("config check with %s%s: exit %d, want %d and %q at its line:\n%s", c.key, c.path, code, exitConfig, c.what+" "+want, out)
		}
		out, _, code = runBounded(t, "serve", "-c", cfg)
		if code == 0 || !strings.Contains(out, want) {
			t.Errorf("serve with %s%s: exit %d, want a refusal saying %q:\n%s", c.key, c.path, code, want, out)
		}
		os.RemoveAll(filepath.Join(dir, "new"))
	}
	// Directories it may make: ok, and none is made by the check.
	cfg := write(okData, okMd, okTrk, okPick)
	if out, _, code := runBounded(t, "config", "check", cfg); code != 0 {
		t.Fatalf("config check of makeable directories: exit %d\n%s", code, out)
	}
	if _, err := os.Lstat(filepath.Join(dir, "new")); err == nil {
		t.Errorf("config check made %s", filepath.Join(dir, "new"))
	}
	if es, _ := os.ReadDir(dir); len(es) != 1 {
		t.Errorf("config check left files in %s: %v", dir, es)
	}
}

// OPS-3 (rt30c F5): a configuration error shows a value's control
// character as \xNN once — the loader quotes the value (%q) — in
// config check (text and --json), serve and the reload failure's log
// line: config check applied the byte escape to the whole line as
// well, which doubled the backslash of the loader's escape ("a\\x00b",
// a literal backslash to the reader) while serve said "a\x00b".
func TestOPS3ConfigErrorShowsAControlCharacterOnce(t *testing.T) {
	dir := t.TempDir()
	listen := addr44k(t, "127.0.0.172")
	cfg := filepath.Join(dir, "hub.yaml")
	write := func(banner string) {
		os.WriteFile(cfg, []byte(fmt.Sprintf(`server: {name: hub.ctl.test, data_dir: %s, metrics_listen: "", log_format: json}
accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: "off"}]
mailbox: {maildir: maildir}
%s`, filepath.Join(dir, "data"), submitConnector("in", listen, "banner: "+banner))), 0o600)
	}
	write(`"a\0b"`)
	for _, c := range []struct{ bad, want string }{{`"a\0b"`, `banner "a\x00b"`}, {`"a\x7fb"`, `banner "a\x7fb"`}} {
		write(c.bad)
		out, _, code := runBounded(t, "config", "check", cfg)
		if code != exitConfig || !strings.Contains(out, c.want) || strings.Contains(out, `\\x`) {
			t.Errorf("config check: exit %d, want %s once escaped:\n%s", code, c.want, out)
		}
		_, js, _ := runBounded(t, "config", "check", "--json", cfg)
		var res configCheckResult
		if err := json.Unmarshal([]byte(js), &res); err != nil || !strings.Contains(strings.Join(res.Errors, "\n"), c.want) ||
			strings.Contains(strings.Join(res.Errors, "\n"), `\\x`) {
			t.Errorf("config check --json: %v, errors %q, want %s", err, res.Errors, c.want)
		}
		out, _, code = runBounded(t, "serve", "-c", cfg)
		if code != exitConfig || !strings.Contains(out, c.want) || strings.Contains(out, `\\x`) {
			t.Errorf("serve: exit %d, want %s once escaped:\n%s", code, c.want, out)
		}
	}
	// The reload failure's log line (JSON: its value decoded).
	write("hello")
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	write(`"a\0b"`)
	d.hup()
	var got string
	waitCond(t, "the reload failure logged", 20*time.Second, func() bool {
		b, _ := os.ReadFile(d.log)
		for _, l := range strings.Split(string(b), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) == nil && strings.HasPrefix(fmt.Sprint(m["msg"]), "reload failed") {
				got = fmt.Sprint(m["err"])
				return true
			}
		}
		return false
	})
	if !strings.Contains(got, `banner "a\x00b"`) || strings.Contains(got, `\\x`) {
		t.Errorf("reload failure's err: %q, want banner \"a\\x00b\" once escaped", got)
	}
	// The status's reload error: in the answers' text form already (the
	// configuration's text rule), written as it is, escaped once
	// (TestOPS1ReloadPendingShowsAControlCharacterOnce).
	st, err := admin.NewClient(filepath.Join(dir, "data", "admin.sock")).Status()
	if err != nil || st.Reload == nil || !strings.Contains(st.Reload.Error, `banner "a\x00b"`) || strings.Contains(st.Reload.Error, `\\x`) {
		t.Errorf("status after the failed reload: %v %+v, want its error to show banner \"a\\x00b\" escaped once", err, st.Reload)
	}
}

// Q-4, OPS-3 (rt30c F6): queue list --suspended printed, after the
// queues it selects, every destination — idle ones of queues nobody
// suspended too —, while --json gave []. The destination table shows
// the destinations of the queues the filter selects, none when it
// selects none.
func TestQ4QueueListSuspendedShowsOnlyItsDestinations(t *testing.T) {
	dir := t.TempDir()
	listen, sink := freeAddr(t, "127.0.0.1"), reserveAddr(t, "127.0.0.1")
	cfg := slowRetryConfig(t, dir, listen, sink)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	sendAll(t, d, listen, "susp", 1, 1)
	waitCond(t, "the sink's destination listed", 30*time.Second, func() bool {
		out, _ := cli(t, cfg, "queue", "list")
		return strings.Contains(out, "DESTINATION") && strings.Contains(out, "smarthost:sink")
	})
	if out, code := cli(t, cfg, "queue", "list", "--suspended"); code != 0 || strings.Contains(out, "DESTINATION") || strings.Contains(out, sink) {
		t.Errorf("queue list --suspended with none suspended: exit %d, want no destination:\n%s", code, out)
	}
	if out, code := cli(t, cfg, "queue", "suspend", "smarthost:sink"); code != 0 {
		t.Fatalf("queue suspend: exit %d %s", code, out)
	}
	out, code := cli(t, cfg, "queue", "list", "--suspended")
	if code != 0 || !strings.Contains(out, "DESTINATION") {
		t.Errorf("queue list --suspended with smarthost:sink suspended: exit %d, want its destination:\n%s", code, out)
	}
	_, rest, _ := strings.Cut(out, "DESTINATION")
	for _, l := range strings.Split(strings.TrimSpace(rest), "\n")[1:] {
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "Back pressure") {
			break
		}
		if !strings.Contains(l, "smarthost:sink") {
			t.Errorf("queue list --suspended shows a destination of another queue: %q", l)
		}
	}
}

// OPS-1 (rt30c F7): a reload whose restart-only part is refused showed
// in /v1/status reload.pending (and the console's header, made from
// it) only "refused: a file it names is not valid": which file, and
// where, was in the WARN log line alone. The entry names them.
func TestOPS1ReloadPendingNamesTheRefusedFile(t *testing.T) {
	dir := t.TempDir()
	listen := addr44k(t, "127.0.0.171")
	consoleAddr := addr44k(t, "127.0.0.171")
	creds := filepath.Join(dir, "credentials")
	alice, _ := bcrypt.GenerateFromPassword([]byte("alice-pw"), bcrypt.MinCost)
	os.WriteFile(creds, []byte("alice:"+string(alice)+"\n"), 0o600)
	certFile, keyFile := writeCertFiles(t, dir, selfSignedCert(t, "localhost"))
	bad := filepath.Join(dir, "notacert.pem")
	os.WriteFile(bad, []byte("this is not a certificate\n"), 0o600)
	cfg := filepath.Join(dir, "hub.yaml")
	sock := filepath.Join(dir, "admin.sock")
	write := func(cert string) {
		os.WriteFile(cfg, []byte(fmt.Sprintf(`server: {name: hub.pending.test, data_dir: %s, admin_socket: %s, metrics_listen: ""}
accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: "off"}]
mailbox: {maildir: maildir}
console:
  listen: %s
  cert_file: %s
  key_file: %s
%s`, filepath.Join(dir, "data"), sock, consoleAddr, cert, keyFile, submitConnector("in", listen,
			`auth: {mechanisms: [PLAIN], credentials_file: `+creds+`, allow_insecure: true}`))), 0o600)
	}
	write(certFile)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	write(bad)
	d.hup()
	c := admin.NewClient(sock)
	var pending []string
	waitCond(t, "the reload in the status", 20*time.Second, func() bool {
		st, err := c.Status()
		if err == nil && st.Reload != nil && st.Reload.Count == 1 {
			pending = st.Reload.Pending
			return true
		}
		return false
	})
	refused := ""
	for _, p := range pending {
		if strings.HasPrefix(p, "refused: ") {
			refused = p
		}
	}
	if !strings.Contains(refused, bad) || !strings.Contains(refused, strings.TrimSuffix(lineOf(t, cfg, "cert_file: "+bad), " ")) {
		t.Errorf("reload.pending %q: want the refused entry to name %s at its line", pending, bad)
	}
}
