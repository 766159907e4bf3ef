package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// OPS-3 (ops48 F2): $UMBRA_SOCKET silently beat an explicit -c:
// `UMBRA_SOCKET=<another hub's socket> umbra -c h1.yaml queue suspend`
// suspended the other hub's queue, db backup saved the other server's
// database. The command line beats the environment for the socket as
// for the file: -c FILE uses FILE's server.admin_socket unless --socket
// is given. A socket from the environment beside a file from it
// ($UMBRA_CONFIG) is checked against that file, and a daemon that runs
// another is refused (exit 1) in route explain's words.
func TestOps48ConfigFlagBeatsUmbraSocket(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.1")
	cfgA := relayConfig(t, dir, listen, freeAddr(t, "127.0.0.1"))
	d := startUmbra(t, cfgA, listen)
	d.dumpLogIfFailed()
	sockA := filepath.Join(dir, "data", "admin.sock")
	other := t.TempDir()
	cfgB := relayConfig(t, other, freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")) // not running
	sockB := filepath.Join(other, "data", "admin.sock")
	run := func(env []string, args ...string) (string, int) {
		t.Helper()
		c := exec.Command(umbraBin, args...)
		c.Dir = other
		c.Env = append(os.Environ(), append([]string{"UMBRA_SOCKET=", "UMBRA_CONFIG="}, env...)...)
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
	backup := filepath.Join(other, "b.db")
	for _, args := range [][]string{
		{"queue", "suspend", "smarthost:sink"},
		{"db", "backup", backup},
		{"message", "list"},
	} {
		out, code := run([]string{"UMBRA_SOCKET=" + sockA}, append([]string{"-c", cfgB}, args...)...)
		if code == 0 || !strings.Contains(out, sockB) {
			t.Errorf("UMBRA_SOCKET=%s umbra -c %s %v: exit %d\n%s\nwant a failure naming %s, the socket of the file given", sockA, cfgB, args, code, out, sockB)
		}
	}
	if _, err := os.Lstat(backup); err == nil {
		t.Error("db backup with -c FILE saved the database of the daemon $UMBRA_SOCKET names")
	}
	if out, _ := run(nil, "-c", cfgA, "queue", "list"); strings.Contains(out, "suspended") {
		t.Errorf("-c %s queue suspend suspended the queue of the daemon $UMBRA_SOCKET names:\n%s", cfgB, out)
	}
	// Both from the environment: the daemon is asked which file it runs.
	want := "the daemon on " + sockA + " runs " + cfgA + ", not " + cfgB
	for _, args := range [][]string{{"queue", "suspend", "smarthost:sink"}, {"db", "backup", backup}} {
		out, code := run([]string{"UMBRA_SOCKET=" + sockA, "UMBRA_CONFIG=" + cfgB}, args...)
		if code != 1 || !strings.Contains(out, want) || !strings.Contains(out, "UMBRA_SOCKET names one server, UMBRA_CONFIG another") {
			t.Errorf("UMBRA_SOCKET=%s UMBRA_CONFIG=%s umbra %v: exit %d\n%s\nwant exit 1 and %q", sockA, cfgB, args, code, out, want)
		}
	}
	if _, err := os.Lstat(backup); err == nil {
		t.Error("db backup saved the database of a daemon that runs another file than $UMBRA_CONFIG")
	}
	// The file's own daemon whatever the environment's socket says; the
	// environment alone, or with the file its daemon runs, still works;
	// --socket addresses a daemon on purpose.
	for _, c := range []struct {
		env  []string
		args []string
	}{
		{[]string{"UMBRA_SOCKET=" + sockB}, []string{"-c", cfgA, "queue", "list"}},
		{[]string{"UMBRA_SOCKET=" + sockA}, []string{"queue", "list"}},
		{[]string{"UMBRA_SOCKET=" + sockA, "UMBRA_CONFIG=" + cfgA}, []string{"queue", "list"}},
		{[]string{"UMBRA_SOCKET=" + sockB}, []string{"-c", cfgB, "--socket", sockA, "queue", "list"}},
	} {
		if out, code := run(c.env, c.args...); code != 0 || !strings.Contains(out, "smarthost:sink") && !strings.Contains(out, "QUEUE") {
			t.Errorf("%v umbra %v: exit %d\n%s", c.env, c.args, code, out)
		}
	}
}
