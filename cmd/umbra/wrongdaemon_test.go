package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// OPS-3 (rt32c F2): with -c FILE, a management command acts only on a
// daemon that runs FILE. A copy of a configuration whose admin_socket
// names another daemon's socket (a copied line; or a reload that could
// not move the socket and kept the old one) drove that other daemon:
// queue list showed its queues, db backup saved its database. Every
// admin-socket command given -c asks the daemon which file it runs and
// refuses (exit 1) another, in route explain's words; the same file
// named through a symbolic link or a relative path is that file; a
// socket named with --socket is addressed on purpose and not checked.
func TestCommandsWithConfigRefuseADaemonOfAnotherFile(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, freeAddr(t, "127.0.0.1"))
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	sock := filepath.Join(dir, "data", "admin.sock")
	text, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	other := t.TempDir()
	copied := filepath.Join(other, "copy.yaml") // the same admin socket: a copied line
	if err := os.WriteFile(copied, text, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(other, "link.yaml")
	if err := os.Symlink(cfg, link); err != nil {
		t.Fatal(err)
	}
	run := func(wd string, args ...string) (string, int) {
		t.Helper()
		c := exec.Command(umbraBin, args...)
		c.Dir = wd
		c.Env = append(os.Environ(), "UMBRA_SOCKET=", "UMBRA_CONFIG=")
		out, err := c.CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return string(out), ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return string(out), 0
	}
	want := "the daemon on " + sock + " runs " + cfg + ", not " + copied
	backup := filepath.Join(other, "b.db")
	for _, args := range [][]string{
		{"queue", "list"},
		{"queue", "suspend", "smarthost:sink"},
		{"message", "list"},
		{"dumpster", "list"},
		{"db", "backup", backup},
		{"shadow", "list"},
	} {
		out, code := run(other, append([]string{"-c", copied}, args...)...)
		if code != 1 || !strings.Contains(out, want) {
			t.Errorf("-c %s %v: exit %d\n%s\nwant exit 1 and %q", copied, args, code, out, want)
		}
	}
	if _, err := os.Lstat(backup); err == nil {
		t.Error("db backup with another daemon's socket wrote the backup")
	}
	if out, _ := run(dir, "-c", cfg, "queue", "list"); strings.Contains(out, "suspended") {
		t.Errorf("a queue was suspended through another file's socket:\n%s", out)
	}
	// The file it runs, by a link and by a relative name.
	for _, c := range []struct{ wd, file string }{{other, link}, {dir, "umbra.yaml"}, {filepath.Join(dir, "data"), "../umbra.yaml"}} {
		if out, code := run(c.wd, "-c", c.file, "queue", "list"); code != 0 {
			t.Errorf("-c %s (in %s): exit %d\n%s", c.file, c.wd, code, out)
		}
	}
	// A socket named on purpose.
	if out, code := run(other, "-c", copied, "--socket", sock, "queue", "list"); code != 0 {
		t.Errorf("--socket %s -c %s: exit %d\n%s", sock, copied, code, out)
	}
}
