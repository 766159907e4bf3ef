package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// OPS-3 (rr25 F4): replacedErr needs /proc/DAEMONPID/fd (holds): an operator who
// is not the daemon's user nor root (a member of the socket's group,
// the installed way: User=umbra, socket 0660) cannot read it, and gets
// the words rt24c F6 removed ("umbra stopped", "busy") for another
// process's socket at the path while the daemon runs.
func TestReplacedForGroupOperator(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("root needed to run the CLI as another user")
	}
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("setpriv")
	}
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, reserveAddr(t, "127.0.0.1"))
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	sock := filepath.Join(dir, "data", "admin.sock")
	for p := dir; p != "/"; p = filepath.Dir(p) {
		os.Chmod(p, 0o755)
	}
	os.Chmod(filepath.Join(dir, "data"), 0o755)
	os.Chmod(umbraBin, 0o755)
	os.Chmod(filepath.Dir(umbraBin), 0o755)
	os.Remove(sock)
	rogue, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer rogue.Close()
	os.Chmod(sock, 0o666)
	go func() {
		for {
			c, err := rogue.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	run := func(as ...string) (int, string) {
		args := append(as, umbraBin, "--socket", sock, "queue", "list")
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Dir = "/"
		var se strings.Builder
		cmd.Stderr = &se
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), se.String()
		}
		return 0, se.String()
	}
	code, out := run("setpriv", "--reuid=0", "--regid=0", "--keep-groups")
	t.Logf("root: exit %d %s", code, out)
	code2, out2 := run("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")
	t.Logf("another user: exit %d %s", code2, out2)
	if code != exitUnavailable || !strings.Contains(out, "replaced since by the socket of pid") {
		t.Errorf("another process's socket at the path, the daemon running, the CLI as root: exit %d %s", code, out)
	}
	if code2 != exitUnavailable || strings.Contains(out2, "umbra stopped") || !strings.Contains(out2, "replaced since by the socket of pid") {
		t.Errorf("another process's socket at the path, the daemon running, the CLI as a user who may not read /proc/PID/fd: exit %d %s", code2, out2)
	}
}
