package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// OPS: db restore run as root on a machine rebuilt after its disk died
// (no data directory yet): the directory and files it would make are
// root's, which umbra, running as its own user
// (deploy/umbra-hub.service: User=umbra), cannot open. Refused, naming
// the fix and creating nothing; with --owner USER[:GROUP] the data
// directory is made for that user, mode 0750, and every file
// the restore writes is that user's.
func TestRestoreAsRootIntoRootOwnedDataDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: db restore run as root")
	}
	const uid = 1 // a user of this machine other than root (daemon), as the one umbra runs as
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sinkAddr) // the sink is down: mail stays queued
	b, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, []byte(strings.Replace(string(b), "transport:\n", "transport:\n  spool_threshold: 64KiB\n", 1)), 0o644)
	d := startUmbra(t, cfg, listen)
	if err := sendBDAT(listen, 200<<10, 32<<10); err != nil { // spooled
		t.Fatal(err)
	}
	backup := filepath.Join(dir, "queue.backup")
	if out, code := cli(t, cfg, "db", "backup", backup); code != 0 {
		t.Fatalf("db backup: exit %d %q", code, out)
	}
	d.kill()
	data := filepath.Join(dir, "data")
	if err := os.RemoveAll(data); err != nil { // the disk died
		t.Fatal(err)
	}

	out, code := cliCombined(t, cfg, "db", "restore", backup)
	if code != 1 || !strings.Contains(out, "--owner") || !strings.Contains(out, "install -d -o") {
		t.Fatalf("db restore as root into a new data directory: exit %d %q, want 1 naming --owner and install -d", code, out)
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Fatalf("the refused restore left the data directory behind (%v)", err)
	}

	if out, code := cli(t, cfg, "db", "restore", "--owner", "1:1", backup); code != 0 {
		t.Fatalf("db restore --owner: exit %d %q", code, out)
	} else if !strings.Contains(out, "there was no database here to replace: what the lost one held beyond the backup is not known; "+
		"this server has no shadow servers, so mail it accepted after the backup is lost with it") {
		// Nothing replaced says what became of the newer mail, as an
		// unreadable database's restore does.
		t.Errorf("db restore into a rebuilt machine said nothing of the mail beyond the backup: %q", out)
	}
	ownedBy(t, data, uid, uid)
	if fi, err := os.Stat(data); err != nil || fi.Mode().Perm() != 0o750 {
		t.Fatalf("data directory %v %v, want mode 0750", fi.Mode(), err)
	}

	// Restored again with the data directory there: its owner is kept,
	// given to the files, without --owner.
	if out, code := cli(t, cfg, "db", "restore", backup); code != 0 {
		t.Fatalf("db restore into the existing data directory: exit %d %q", code, out)
	}
	for _, p := range []string{filepath.Join(data, "queue.db"), filepath.Join(data, "spool")} {
		ownedBy(t, p, uid, uid)
	}
}

// cliCombined is cli with standard error too (a refusal's text).
func cliCombined(t testing.TB, cfg string, args ...string) (string, int) {
	t.Helper()
	out, err := exec.Command(umbraBin, append([]string{"--config", cfg}, args...)...).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

// selfOwner is --owner for a restore into a missing data directory made
// for the user the test runs umbra as: itself.
func selfOwner() string { return strconv.Itoa(os.Geteuid()) }
