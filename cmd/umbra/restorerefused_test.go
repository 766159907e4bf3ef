package main

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// needRoot skips a test that runs commands as root on files of another
// user where this process is not root, except under CI, which runs as
// root: there the test must not pass unseen.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatal("needs root (CI runs the tests as root)")
	}
	t.Skip("needs root: db restore run as root on files of another user")
}

// OPS: a refused db restore changes nothing, the owner of the data
// directory and its files included (rt17a F1). The data directory is the
// daemon's (nobody's); db restore --owner root, refused because the
// daemon runs, or because the backup is damaged, or because the data
// directory is missing and the backup damaged, leaves every owner as it
// was (and makes no directory): the daemon keeps writing its spool, db
// backup keeps working, and the next start finds its files. Only a
// restore that succeeds gives the files to --owner, as its last step.
func TestRefusedRestoreKeepsOwners(t *testing.T) {
	t.Parallel()
	needRoot(t)
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
	data := filepath.Join(dir, "data")
	giveAll := func() {
		t.Helper()
		if err := filepath.WalkDir(data, func(p string, _ fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(p, nobody, nobody)
		}); err != nil {
			t.Fatal(err)
		}
	}
	giveAll()

	// The daemon runs: refused as in use, no owner changed.
	out, code := cliCombined(t, cfg, "db", "restore", "--owner", "root", backup)
	if code != 1 || !strings.Contains(out, "in use") {
		t.Fatalf("db restore --owner root with umbra running: exit %d %q, want 1, in use", code, out)
	}
	ownedBy(t, data, nobody, nobody)
	d.kill()

	// A damaged backup: refused, no owner changed.
	raw, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	// Every copy of the header section (free pages may hold one too).
	bad := bytes.ReplaceAll(raw, []byte("Subject: bdat"), []byte("Subject: bdaT"))
	if bytes.Equal(bad, raw) {
		t.Fatal("the backup holds no header section to damage")
	}
	damaged := filepath.Join(dir, "damaged.backup")
	if err := os.WriteFile(damaged, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	out, code = cliCombined(t, cfg, "db", "restore", "--owner", "root", damaged)
	if code != 1 || !strings.Contains(out, "damaged") || !strings.Contains(out, "unchanged") {
		t.Fatalf("db restore --owner root of a damaged backup: exit %d %q, want 1, damaged, unchanged", code, out)
	}
	ownedBy(t, data, nobody, nobody)

	// A missing data directory and a damaged backup: refused, nothing made.
	other := filepath.Join(dir, "other.yaml")
	b, _ = os.ReadFile(cfg)
	os.WriteFile(other, bytes.Replace(b, []byte(data), []byte(filepath.Join(dir, "new", "data")), 1), 0o644)
	out, code = cliCombined(t, other, "db", "restore", "--owner", "1", damaged)
	if code != 1 || !strings.Contains(out, "damaged") {
		t.Fatalf("db restore --owner into a missing data directory of a damaged backup: exit %d %q, want 1, damaged", code, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "new", "data")); !os.IsNotExist(err) {
		t.Fatalf("the refused restore left the data directory it made (%v)", err)
	}

	// A restore that succeeds gives the data directory and what it
	// restored to --owner.
	if out, code := cli(t, cfg, "db", "restore", "--owner", "root", backup); code != 0 {
		t.Fatalf("db restore --owner root: exit %d %q", code, out)
	}
	if fi, err := os.Stat(data); err != nil || fi.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Fatalf("the data directory is not root's after db restore --owner root (%v)", err)
	}
	for _, p := range []string{filepath.Join(data, "queue.db"), filepath.Join(data, "spool")} {
		ownedBy(t, p, 0, 0)
	}
}

// OPS: only root may give files to another user. db restore --owner
// naming another user (or a group not its own), run by a user who is not
// root, is refused before anything is done, saying so (exit 77), not
// with a chown error and advice to give the data directory away (rt17a
// F3); --owner naming the user who runs it restores.
func TestRestoreOwnerOfAnotherUserNotRoot(t *testing.T) {
	needRoot(t) // to run the command as another user
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sinkAddr)
	os.Chmod(cfg, 0o644)
	for _, p := range []string{filepath.Dir(umbraBin), dir, filepath.Dir(dir)} {
		os.Chmod(p, 0o755)
	}
	d := startUmbra(t, cfg, listen)
	backup := filepath.Join(dir, "queue.backup")
	if out, code := cli(t, cfg, "db", "backup", backup); code != 0 {
		t.Fatalf("db backup: exit %d %q", code, out)
	}
	os.Chmod(backup, 0o644)
	d.kill()
	data := filepath.Join(dir, "data")
	if err := filepath.WalkDir(data, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, nobody, nobody)
	}); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadDir(data)
	for _, owner := range []string{"root", "1", "65534:0"} {
		out, code := cliAs(t, nobody, cfg, "db", "restore", "--owner", owner, backup)
		if code != 77 || !strings.Contains(out, "not root") || strings.Contains(out, "chown") || strings.Contains(out, "lchown") {
			t.Errorf("db restore --owner %s as nobody: exit %d %q, want 77 saying only root gives files away", owner, code, out)
		}
	}
	// rt17e-F6: the hint names what works — as root, or as the user
	// named without --owner — never "as root without --owner"; and the
	// owner is checked before the backup is read: a backup this user may
	// not read is still refused for the owner (77), not with exit 1.
	out, _ := cliAs(t, nobody, cfg, "db", "restore", "--owner", "root", backup)
	if strings.Contains(out, "as root without --owner") || !strings.Contains(out, "sudo umbra db restore --owner root") {
		t.Errorf("db restore --owner root as nobody: %q, want the one fix (run it as root), not a contradiction", out)
	}
	if out, _ := cliAs(t, nobody, cfg, "db", "restore", "--owner", "1", backup); !strings.Contains(out, "as daemon without --owner") {
		t.Errorf("db restore --owner 1 as nobody: %q, want the other fix: run it as daemon (user 1) without --owner", out)
	}
	unreadable := filepath.Join(dir, "unreadable.backup")
	if b, err := os.ReadFile(backup); err != nil || os.WriteFile(unreadable, b, 0o600) != nil {
		t.Fatal(err)
	}
	if out, code := cliAs(t, nobody, cfg, "db", "restore", "--owner", "root", unreadable); code != 77 || !strings.Contains(out, "not root") {
		t.Errorf("db restore --owner root of a backup nobody may not read, as nobody: exit %d %q, want 77 for the owner first", code, out)
	}
	after, _ := os.ReadDir(data)
	if len(after) != len(before) {
		t.Errorf("the refused restores changed the data directory: %v, then %v", before, after)
	}
	ownedBy(t, data, nobody, nobody)
	if out, code := cliAs(t, nobody, cfg, "db", "restore", "--owner", "65534", backup); code != 0 {
		t.Fatalf("db restore --owner naming the user who runs it: exit %d %q", code, out)
	}
	ownedBy(t, filepath.Join(data, "queue.db"), nobody, nobody)
}
