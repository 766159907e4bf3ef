package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// rt36 F3 (OPS-3): a relative admin_socket (and pickup.directory,
// tracking.path, mailbox.maildir) is resolved under data_dir, itself
// resolved against the configuration file's directory: with data_dir:
// data, "admin_socket: data/admin.sock" is data/data/admin.sock, and
// nothing said so. config check warns, at the setting's line, when such
// a path starts with data_dir's own relative path, naming where it
// resolves and what to write; one that does not is no warning.
func TestConfigCheckWarnsPathRepeatingDataDir(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "umbra.yaml")
	write := func(extra string) {
		t.Helper()
		text := "server:\n  name: hub.rel.test\n  data_dir: data\n" + extra +
			"accepted_domains:\n  - {domain: example.test, type: authoritative, recipient_validation: off}\n" +
			submitConnector("in", "127.0.0.165:8510") + "mailbox:\n  maildir: maildir\n"
		if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("  admin_socket: data/admin.sock\ntracking:\n  path: ./data/tracking.log\n")
	out, err := exec.Command(umbraBin, "config", "check", cfg).CombinedOutput()
	want := `umbra.yaml:4: warning: server.admin_socket "data/admin.sock" is relative, so it is under server.data_dir ("data"): it is ` +
		filepath.Join(dir, "data", "data", "admin.sock") + `; write "admin.sock" for ` + filepath.Join(dir, "data", "admin.sock")
	if err != nil || !strings.Contains(string(out), want) || !strings.Contains(string(out), `warning: tracking.path "./data/tracking.log" is relative`) {
		t.Errorf("config check: %v\n%s\nwant %s", err, out, want)
	}
	write("  admin_socket: admin.sock\n")
	if out, err := exec.Command(umbraBin, "config", "check", cfg).CombinedOutput(); err != nil || strings.Contains(string(out), "warning") {
		t.Errorf("admin_socket: admin.sock: %v\n%s", err, out)
	}
}
