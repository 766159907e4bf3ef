package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// rt21c L5: a daemon that holds its transport database but does not
// answer on its admin socket yet (starting: its database opens, then it
// gets ready) is not "not running": commands say it is starting, naming
// its pid, and exit 75 (try again); a daemon truly gone is still exit 69.
// The state is made by pointing the commands at a socket the running
// daemon has not made (the configuration's admin_socket edited without
// a reload, --socket beside its database): its database held, no
// socket of that name listened on — what a command sees during a
// start. (Taking the name of the socket it listens on away is another
// state, the socket gone: TestCommandsTellSocketGone.)
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
	notYet := filepath.Join(dir, "data", "notyet.sock")
	editConfig(t, cfg, "  metrics_listen: \"\"\n", "  metrics_listen: \"\"\n  admin_socket: "+notYet+"\n")
	for _, args := range [][]string{{"queue", "list"}, {"--socket", notYet, "message", "list"}} {
		code, errOut := cliErr(t, cfg, args...)
		if code != exitStarting || !strings.Contains(errOut, "umbra is starting") || !strings.Contains(errOut, "serve") ||
			strings.Contains(errOut, "not running") {
			t.Errorf("umbra %s while the daemon holds its database and does not answer: exit %d %q\nwant exit %d, starting, its pid",
				strings.Join(args, " "), code, errOut, exitStarting)
		}
	}
	editConfig(t, cfg, "  admin_socket: "+notYet+"\n", "")
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
