package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// OPS-3: the admin socket's file removed under a running daemon (by
// hand, a cleanup of /run) or replaced by a file that is not a socket:
// commands said "umbra is starting" (exit 75: try again), which waiting
// never mends. They say what is — the daemon runs, its pid, the socket
// path gone and what is there now, and that SIGHUP makes it again —
// and exit 69 (unavailable), never "starting" nor "not running". A
// SIGHUP makes the socket again at its path (logged), and commands
// reach the daemon; a file that is not a socket is left alone (an
// ERROR), until it is removed and SIGHUP sent again. route explain,
// which then explains the files, says why the daemon was not asked. The socket is
// looked at after every SIGHUP, its own left as it is.
func TestCommandsTellSocketGone(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, reserveAddr(t, "127.0.0.1"))
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	sock := filepath.Join(dir, "data", "admin.sock")
	pid := d.cmd.Process.Pid
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
	// The socket is looked at after the reload's outcome is logged:
	// hupThen waits for the line of what it found as well (a command run
	// at once could otherwise find the socket not made yet).
	hupThen := func(line string) {
		t.Helper()
		n := logCount(d, line)
		hup()
		waitLogCount(t, d, line, n+1)
	}
	const remade, notRemade = "socket's file was gone (removed or replaced); made again", "the admin socket is gone and was not made again"
	gone := func(what, now string, commands ...[]string) {
		remove := strings.Contains(now, "regular file")
		t.Helper()
		for _, args := range commands {
			code, errOut := cliErr(t, cfg, args...)
			t.Logf("umbra %s: exit %d %s", strings.Join(args, " "), code, errOut)
			if code != exitUnavailable || !strings.Contains(errOut, "its admin socket is gone") ||
				!strings.Contains(errOut, fmt.Sprintf("pid %d", pid)) || !strings.Contains(errOut, sock) ||
				!strings.Contains(errOut, now) || !strings.Contains(errOut, fmt.Sprintf("kill -HUP %d", pid)) ||
				strings.Contains(errOut, "starting") || strings.Contains(errOut, "not running") ||
				remove != strings.Contains(errOut, "Remove that file") {
				t.Errorf("umbra %s with the socket's file %s: exit %d %q\nwant exit %d: runs, pid %d, the socket %s gone (%s), kill -HUP",
					strings.Join(args, " "), what, code, errOut, exitUnavailable, pid, sock, now)
			}
		}
	}

	if err := os.Remove(sock); err != nil {
		t.Fatal(err)
	}
	both := [][]string{{"queue", "list"}, {"--socket", sock, "message", "list"}}
	gone("removed", "no file is there now", both...)
	// The commands that read the files when no daemon answers say why
	// the daemon was not asked, not that none answers.
	out, errOut, code := routeExplain(t, "--config", cfg, "x@remote.example")
	if code != 0 || !strings.Contains(errOut, "the daemon runs, but its admin socket "+sock+" is gone") || strings.Contains(out+errOut, "no daemon answers") ||
		!strings.Contains(out, "its admin socket "+sock+" is gone") {
		t.Errorf("route explain with the socket's file removed: exit %d\n%s%s\nwant the daemon said to run, its socket gone", code, out, errOut)
	}
	hupThen(remade) // the log says the socket was made again
	if code, errOut := cliErr(t, cfg, "queue", "list"); code != 0 {
		t.Fatalf("queue list after SIGHUP: exit %d %q; want the socket made again", code, errOut)
	}
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o660 {
		t.Fatalf("the socket made again: %v %v, want a socket of mode 0660", fi, err)
	}

	// Its own socket is left as it is by a SIGHUP.
	hup()
	if fi2, err := os.Stat(sock); err != nil || !os.SameFile(fi, fi2) {
		t.Errorf("a SIGHUP with the socket in place made it again (%v)", err)
	}

	// Replaced by a regular file: left alone, said at the SIGHUP (the
	// configuration is refused for it too, at its line: the reload
	// fails, and a command that reads the file says so — exit 2).
	if err := os.Remove(sock); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sock, []byte("not a socket"), 0o600); err != nil {
		t.Fatal(err)
	}
	byName := [][]string{{"--socket", sock, "message", "list"}}
	gone("replaced by a regular file", "a regular file is there now", byName...)
	hupThen(notRemade)
	if b, _ := os.ReadFile(sock); string(b) != "not a socket" {
		t.Errorf("the regular file at the socket's path was not left alone: %q", b)
	}
	if b, _ := os.ReadFile(d.log); !strings.Contains(string(b), "was not made again") || !strings.Contains(string(b), "not a socket") {
		t.Errorf("the log does not say why the socket was not made again:\n%s", b)
	}
	gone("still a regular file", "a regular file is there now", byName...)
	os.Remove(sock)
	hupThen(remade)
	if code, errOut := cliErr(t, cfg, "queue", "list"); code != 0 {
		t.Errorf("queue list after the file was removed and SIGHUP sent: exit %d %q", code, errOut)
	}
}
