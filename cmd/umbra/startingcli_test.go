package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// rt21c L5: a daemon that holds its transport database but does not
// answer on its admin socket yet (starting: its database opens, then it
// gets ready) is not "not running": commands say it is starting, naming
// its pid, and exit 75 (try again); a daemon truly gone is still exit 69.
// The state is made by stopping a running daemon (SIGSTOP) and taking
// its socket's name away: what a command sees during a start.
func TestCommandsTellStartingFromNotRunning(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, reserveAddr(t, "127.0.0.1"))
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	sock := filepath.Join(dir, "data", "admin.sock")
	if _, err := os.Stat(sock); err != nil {
		t.Fatal(err)
	}
	pid := d.cmd.Process.Pid
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(pid, syscall.SIGCONT)
	held := sock + ".held"
	if err := os.Rename(sock, held); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"queue", "list"}, {"--socket", sock, "message", "list"}} {
		code, errOut := cliErr(t, cfg, args...)
		if code != exitStarting || !strings.Contains(errOut, "umbra is starting") || !strings.Contains(errOut, "serve") ||
			strings.Contains(errOut, "not running") {
			t.Errorf("umbra %s while the daemon holds its database and does not answer: exit %d %q\nwant exit %d, starting, its pid",
				strings.Join(args, " "), code, errOut, exitStarting)
		}
	}
	os.Rename(held, sock)
	syscall.Kill(pid, syscall.SIGCONT)
	d.kill()
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, errOut := cliErr(t, cfg, "queue", "list")
		if code == exitUnavailable && strings.Contains(errOut, "not running") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("umbra queue list with the daemon gone: exit %d %q; want exit %d, not running", code, errOut, exitUnavailable)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
