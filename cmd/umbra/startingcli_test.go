package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
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
// socket of that name listened on, and no run file yet (a ready daemon
// writes admin.run naming its socket: removed here) — what a command
// sees during a start. (Taking the name of the socket it listens on away
// is another state, the socket gone: TestCommandsTellSocketGone; the
// edit with the run file there is a daemon that runs, ready, elsewhere:
// TestCommandsTellARunningDaemonOfAnEditedFile.)
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
	if err := os.Remove(filepath.Join(dir, "data", "admin.run")); err != nil {
		t.Fatal(err)
	}
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
	waitNotRunning(t, cfg)
}

// serveHeld starts umbra serve on a relay configuration of its own (cfg)
// with the environment variable env naming the file hold, which exists
// (a hook for tests holds the daemon while it does); the daemon is
// killed when the test ends. done gives its exit (put it back once
// taken), log its output.
func serveHeld(t *testing.T, env string) (cfg, hold string, cmd *exec.Cmd, done chan error, log *bytes.Buffer) {
	t.Helper()
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.1")
	cfg = relayConfig(t, dir, listen, reserveAddr(t, "127.0.0.1"))
	hold = filepath.Join(dir, "hold")
	if err := os.WriteFile(hold, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	hostMarksOff(t, cfg)
	cmd = exec.Command(umbraBin, "serve", "--config", cfg)
	cmd.Env = append(os.Environ(), env+"="+hold)
	log = new(bytes.Buffer)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done = make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	return cfg, hold, cmd, done, log
}

// waitNotRunning waits (10 s at most) until umbra queue list says the
// daemon of cfg is not running (exit 69).
func waitNotRunning(t *testing.T, cfg string) {
	t.Helper()
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

// OPS-3 (ops24 1): from the moment umbra serve exists — its
// configuration read and checked, which takes a while with a large
// topology, before it opens (locks) its transport database — the
// management commands say it is starting (exit 75, its pid), not "not
// running" (exit 69): starting it again would be refused. The daemon is
// held in its configuration check by a hook for tests
// (UMBRA_TEST_HOLD_START: it waits while that file exists); once it
// goes on it answers, and once it is gone, "not running" again.
func TestCommandsTellStartingBeforeTheDatabaseIsOpen(t *testing.T) {
	cfg, hold, cmd, done, log := serveHeld(t, "UMBRA_TEST_HOLD_START")
	dir := filepath.Dir(hold) // the daemon's: its data directory is dir/data
	deadline := time.Now().Add(30 * time.Second)
	for {
		if b, _ := os.ReadFile(hold); len(b) > 0 {
			break // the daemon is in its configuration check
		}
		select {
		case err := <-done:
			done <- err
			t.Fatalf("umbra serve exited: %v\n%s", err, log.Bytes())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("umbra serve did not reach its configuration check\n%s", log.Bytes())
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "queue.db")); err == nil {
		t.Fatalf("the transport database exists during the configuration check: the test does not test the time before it")
	}
	pid := strconv.Itoa(cmd.Process.Pid)
	for _, args := range [][]string{{"queue", "list"}, {"message", "list"}, {"shadow", "list"}} {
		code, errOut := cliErr(t, cfg, args...)
		if code != exitStarting || !strings.Contains(errOut, "umbra is starting") || !strings.Contains(errOut, "pid "+pid) ||
			strings.Contains(errOut, "not running") {
			t.Errorf("umbra %s while the daemon checks its configuration: exit %d %q\nwant exit %d, starting, pid %s",
				strings.Join(args, " "), code, errOut, exitStarting, pid)
		}
	}
	os.Remove(hold)
	deadline = time.Now().Add(30 * time.Second)
	for {
		out, code := cli(t, cfg, "queue", "list")
		if code == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("umbra queue list after the start went on: exit %d %q\n%s", code, out, log.Bytes())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Kill()
	err := <-done
	done <- err
	waitNotRunning(t, cfg)
}

// OPS-3 (ops24 1, the same at the other end): a daemon at the end of its
// stop has closed its admin socket and still holds its transport
// database a moment; a command then said it was starting. It says it is
// stopping (exit 75, its pid), and "not running" once it is gone. The
// daemon is held there by a hook for tests (UMBRA_TEST_HOLD_STOP).
func TestCommandsTellStoppingFromStarting(t *testing.T) {
	cfg, hold, cmd, done, log := serveHeld(t, "UMBRA_TEST_HOLD_STOP")
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, code := cli(t, cfg, "queue", "list"); code == 0 {
			break // ready
		}
		if time.Now().After(deadline) {
			t.Fatalf("umbra serve did not get ready\n%s", log.Bytes())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	deadline = time.Now().Add(60 * time.Second)
	for {
		if b, _ := os.ReadFile(hold); len(b) > 0 {
			break // stopped but for its database's close
		}
		if time.Now().After(deadline) {
			t.Fatalf("umbra serve did not reach the end of its stop\n%s", log.Bytes())
		}
		time.Sleep(20 * time.Millisecond)
	}
	pid := strconv.Itoa(cmd.Process.Pid)
	for _, args := range [][]string{{"queue", "list"}, {"message", "list"}} {
		code, errOut := cliErr(t, cfg, args...)
		if code != exitStarting || !strings.Contains(errOut, "umbra is stopping") || !strings.Contains(errOut, "pid "+pid) ||
			strings.Contains(errOut, "starting") || strings.Contains(errOut, "not running") {
			t.Errorf("umbra %s while the daemon ends its stop: exit %d %q\nwant exit %d, stopping, pid %s",
				strings.Join(args, " "), code, errOut, exitStarting, pid)
		}
	}
	os.Remove(hold)
	select {
	case err := <-done:
		done <- err
	case <-time.After(30 * time.Second):
		t.Fatalf("umbra serve did not exit after its stop\n%s", log.Bytes())
	}
	if code, errOut := cliErr(t, cfg, "queue", "list"); code != exitUnavailable || !strings.Contains(errOut, "not running") {
		t.Fatalf("umbra queue list with the daemon gone: exit %d %q; want exit %d, not running", code, errOut, exitUnavailable)
	}
}
