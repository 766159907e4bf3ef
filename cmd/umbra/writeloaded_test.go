package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// OPS-3: a command that writes a file (db backup) judges it against the
// places of the configuration the running daemon loaded too, not only
// the file as edited since: the file's mailbox.maildir moved without a
// reload, the daemon still delivers into the Maildir tree it loaded, and
// a backup there is refused (exit 1) — with --config naming the file the
// daemon runs, the file alone passed it.
func TestCLIWritersJudgedByTheLoadedConfiguration(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, freeAddr(t, "127.0.0.1"))
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	maildir := filepath.Join(dir, "data", "maildir")
	if err := os.MkdirAll(maildir, 0o700); err != nil {
		t.Fatal(err)
	}
	editConfig(t, cfg, "  maildir: maildir\n", "  maildir: elsewhere\n") // not reloaded
	target := filepath.Join(maildir, "b.db")
	out, err := exec.Command(umbraBin, "db", "backup", target, "--config", cfg).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "is inside mailbox.maildir "+maildir) ||
		!strings.Contains(string(out), "the running daemon loaded") {
		t.Errorf("backup into the Maildir tree the daemon loaded: %v\n%s", err, out)
	}
	if _, err := os.Stat(target); err == nil {
		t.Error("the backup was written into the daemon's Maildir tree")
	}
}

// OPS-3: keygen run as root gives the key the owner of the data
// directory the running daemon uses — the server section applies at a
// restart, so after the file's data_dir was edited (not yet restarted)
// the daemon's user is still the owner of the one it runs with, not of
// the one the file names now.
func TestDKIMKeygenOwnerOfTheRunningDataDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: keygen run as root for a daemon of another user")
	}
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, freeAddr(t, "127.0.0.1"))
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	data := filepath.Join(dir, "data")
	if err := os.Lchown(data, nobody, nobody); err != nil { // the daemon's user, as a start by that user leaves it
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other-data") // root's
	if err := os.MkdirAll(other, 0o700); err != nil {
		t.Fatal(err)
	}
	editConfig(t, cfg, "  data_dir: "+data+"\n", "  data_dir: "+other+"\n  admin_socket: "+filepath.Join(data, "admin.sock")+"\n")
	key, _ := keygen(t, t.TempDir(), "example.org", "run1", "--config", cfg)
	ownedBy(t, key, nobody, nobody)
}
