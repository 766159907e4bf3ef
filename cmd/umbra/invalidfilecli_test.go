package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// rt23c F6 (OPS-): a configuration file edited into an invalid state
// while its daemon runs does not cut the operator off from that daemon:
// the management commands find the socket the file names (read as
// route explain reads it) and warn, at the file's line, that the next
// reload would fail; with no daemon there the file's error stands,
// naming --socket as the way to reach one.
func TestManagementCommandsReachTheDaemonWhenTheFileIsInvalid(t *testing.T) {
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sinkAddr)
	d := startUmbra(t, cfg, listen)
	editConfig(t, cfg, "retry_schedule: [1s]", "retry_schedul: [1s]") // a typo mid-incident

	for _, args := range [][]string{{"queue", "list"}, {"message", "list"}, {"message", "suspend", "--all"}, {"message", "resume", "--all"}} {
		code, stderr := cliErr(t, cfg, args...)
		if code != 0 {
			d.dumpLog()
			t.Fatalf("%v with the file invalid and the daemon running: exit %d %q", args, code, stderr)
		}
		if !strings.Contains(stderr, cfg+":") || !strings.Contains(stderr, "retry_schedul") || !strings.Contains(stderr, "next reload would fail") {
			t.Errorf("%v: no warning naming the file's error at its line: %q", args, stderr)
		}
	}

	// Killed, its socket left behind: not running, and the file's
	// error still said.
	d.kill()
	code, stderr := cliErr(t, cfg, "queue", "list")
	if code != exitUnavailable || !strings.Contains(stderr, cfg+":") {
		t.Errorf("the daemon killed: exit %d %q, want %d with the file's error at its line", code, stderr, exitUnavailable)
	}
	// No socket at all: the file's error, naming --socket.
	if err := os.Remove(filepath.Join(dir, "data", "admin.sock")); err != nil {
		t.Fatal(err)
	}
	code, stderr = cliErr(t, cfg, "queue", "list")
	if code != exitConfig || !strings.Contains(stderr, cfg+":") || !strings.Contains(stderr, "--socket") {
		t.Errorf("no daemon, the invalid file: exit %d %q, want %d at its line, naming --socket", code, stderr, exitConfig)
	}
}
