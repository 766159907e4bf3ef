package main

import (
	"os"
	"path/filepath"
	"testing"

	"umbra/internal/config"
)

// OPS-1: the daemon started on data_dir /srv/current (current -> v1)
// runs on v1. The operator switches the link (current -> v2) and names
// v2 in the file: a restart opens v2, not the v1 that runs, so the
// reload must name server.data_dir (and set the gauge). samePlace
// resolves the running path as it is now, not as the daemon opened it.
func TestOPS1SamePlaceJudgesRunningPathAsStarted(t *testing.T) {
	dir := t.TempDir()
	v1, v2, cur := filepath.Join(dir, "v1"), filepath.Join(dir, "v2"), filepath.Join(dir, "current")
	os.Mkdir(v1, 0o700)
	os.Mkdir(v2, 0o700)
	if err := os.Symlink("v1", cur); err != nil {
		t.Fatal(err)
	}
	running := &config.Config{}
	running.Server.DataDir = cur // the daemon opened v1 through it
	// The link is switched while the daemon runs on v1, the file names v2.
	os.Remove(cur)
	os.Symlink("v2", cur)
	next := &config.Config{}
	*next = *running
	next.Server.DataDir = v2
	if keys := restartOnly(running, next); len(keys) == 0 {
		t.Errorf("restartOnly names nothing: the daemon runs on %s, the file names %s, a restart changes the data dir", v1, v2)
	}
}

// OPS-1 (admin socket): the running socket is v1/admin.sock, made
// through current/admin.sock; after the link switch the file names
// v2/admin.sock. reload skips the move (samePlace: neither exists, the
// same name in one directory by identity), so the CLI, reading the file,
// finds no socket at v2/admin.sock.
func TestOPS1AdminSocketMovedAfterLinkSwitch(t *testing.T) {
	dir := t.TempDir()
	v1, v2, cur := filepath.Join(dir, "v1"), filepath.Join(dir, "v2"), filepath.Join(dir, "current")
	os.Mkdir(v1, 0o700)
	os.Mkdir(v2, 0o700)
	os.Symlink("v1", cur)
	os.WriteFile(filepath.Join(v1, "admin.sock"), nil, 0o600) // stands for the socket made at start
	os.Remove(cur)
	os.Symlink("v2", cur)
	if samePlace(filepath.Join(cur, "admin.sock"), filepath.Join(v2, "admin.sock")) { // the running socket first
		t.Errorf("samePlace calls v2/admin.sock the running socket (in v1): reload does not move it, and the CLI finds none there")
	}
}
