package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// OPS-3 (rr25 F1): after the operator follows ErrSocketGone's own advice for a
// socket another process put at the path (remove that file, then
// SIGHUP), the daemon's socket is back at the path while the other
// process still listens on its orphaned one. A command that then gets
// no answer in time from the daemon (busy, SIGSTOP) must say so, not
// that the file was "replaced since by the socket of pid N, which
// answers there instead. Remove that file" — which names the daemon's
// own live socket for removal.
func TestReplacedOnlyWhenAnotherAnswers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, reserveAddr(t, "127.0.0.1"))
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	sock := filepath.Join(dir, "data", "admin.sock")
	hups := 0
	hup := func() {
		t.Helper()
		hups++
		d.hup()
		waitCond(t, "the reload", 30*time.Second, func() bool {
			b, _ := os.ReadFile(d.log)
			return strings.Count(string(b), "configuration reloaded")+strings.Count(string(b), "reload failed") >= hups
		})
	}
	run := func(env ...string) (int, string) {
		cmd := exec.Command(umbraBin, "--config", cfg, "queue", "list")
		cmd.Env = append(os.Environ(), env...)
		var se strings.Builder
		cmd.Stderr = &se
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), se.String()
		}
		return 0, se.String()
	}
	// Another process's socket at the path.
	os.Remove(sock)
	rogue, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	rogue.(*net.UnixListener).SetUnlinkOnClose(false)
	defer rogue.Close()
	go func() {
		for {
			c, err := rogue.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	code, out := run()
	t.Logf("rogue there: exit %d %s", code, out)
	if code != exitUnavailable || !strings.Contains(out, "replaced since by the socket of pid") {
		t.Errorf("another process's socket at the path, the daemon running: exit %d %s", code, out)
	}
	// The advice: remove that file, then SIGHUP.
	os.Remove(sock)
	hup()
	if code, out := run(); code != 0 {
		t.Fatalf("after the advice: exit %d %s", code, out)
	}
	// The daemon busy/stopped: no answer within the bound.
	d.cmd.Process.Signal(syscall.SIGSTOP)
	defer d.cmd.Process.Signal(syscall.SIGCONT)
	code, out = run("UMBRA_ADMIN_TIMEOUT=2s")
	d.cmd.Process.Signal(syscall.SIGCONT)
	t.Logf("daemon stopped: exit %d %s", code, out)
	if strings.Contains(out, "replaced since") || strings.Contains(out, "Remove that file") || !strings.Contains(out, "did not finish") {
		t.Errorf("the daemon's own socket at the path, the daemon SIGSTOPped: the command says the file was replaced and to remove it:\nexit %d %s", code, out)
	}
}
