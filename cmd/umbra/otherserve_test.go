package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// OPS-3, rt27c F4: the CLI without -c asked the default configuration's
// socket, found no daemon there and said "umbra is not running" while a
// daemon ran, started with -c hub.yaml (another socket): the operator
// went to start a second one. When no daemon answers at the socket the
// command tried and it used the default configuration, an umbra serve
// this user may believe (its own, root's) is named: its pid, its -c and
// its socket, and the command says to give -c.
func TestCLIWithoutConfigNamesRunningDaemon(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, reserveAddr(t, "127.0.0.1"))
	d := startUmbra(t, cfg, listen)
	sock := filepath.Join(dir, "data", "admin.sock")
	cmd := exec.Command(umbraBin, "queue", "list")
	cmd.Dir = t.TempDir() // the embedded default: umbra-data/admin.sock here, where nothing answers
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "UMBRA_CONFIG=") && !strings.HasPrefix(e, "UMBRA_SOCKET=") {
			cmd.Env = append(cmd.Env, e)
		}
	}
	out, err := cmd.CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != exitUnavailable {
		t.Fatalf("queue list without -c: %v\n%s", err, out)
	}
	// Other daemons of this user may run too: each is named, ours among them.
	for _, want := range []string{"umbra runs (pid ", "pid " + strconv.Itoa(d.cmd.Process.Pid) + ", -c " + cfg + ", socket " + sock,
		"this command used the default configuration: give -c"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("queue list without -c said:\n%s\nwant it to contain %q", out, want)
		}
	}
	t.Logf("queue list without -c: %s", out)
	if strings.Contains(string(out), "not running") {
		t.Errorf("said not running while a daemon runs:\n%s", out)
	}
}

// OPS-3, rt27e F5: the db commands that read the default data directory
// themselves (compact, restore), run without -c where it holds no
// database while a daemon started with -c runs, name that daemon as the
// socket commands do (exit 69), instead of "stat umbra-data/queue.db: no
// such file or directory" (exit 1).
func TestDBCommandWithoutConfigNamesRunningDaemon(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, reserveAddr(t, "127.0.0.1"))
	d := startUmbra(t, cfg, listen)
	backup := filepath.Join(t.TempDir(), "some.backup")
	os.WriteFile(backup, []byte("not a database"), 0o600)
	for _, args := range [][]string{{"db", "compact"}, {"db", "restore", backup}} {
		cmd := exec.Command(umbraBin, args...)
		cmd.Dir = t.TempDir()
		for _, e := range os.Environ() {
			if !strings.HasPrefix(e, "UMBRA_CONFIG=") && !strings.HasPrefix(e, "UMBRA_SOCKET=") {
				cmd.Env = append(cmd.Env, e)
			}
		}
		out, err := cmd.CombinedOutput()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != exitUnavailable {
			t.Errorf("%v without -c: %v\n%s", args, err, out)
			continue
		}
		if want := "pid " + strconv.Itoa(d.cmd.Process.Pid) + ", -c " + cfg; !strings.Contains(string(out), want) {
			t.Errorf("%v without -c said:\n%s\nwant it to contain %q", args, out, want)
		}
	}
}
