package queue

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// OPS-1, OPS-3 (opsec26 F3): with no database at queue.db, db restore's
// lock creates an empty one (rr24 F2) with os.OpenFile(O_RDWR|O_CREATE),
// following a dangling symlink the daemon's user planted at the name:
// root creates an empty file wherever the link points (/etc/nologin).
func TestOPS1RestoreLockCreatesNothingThroughADanglingLink(t *testing.T) {
	ctx := context.Background()
	src, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := msg(src, "a@example.org", "b@example.test")
	m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
	if err := src.Update(ctx, func(tx *Tx) error { return tx.PutNew(m, []byte("From: a@example.org\r\n\r\nbacked up\r\n")) }); err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(t.TempDir(), "backup.db")
	if _, err := src.WriteBackup(backup); err != nil {
		t.Fatal(err)
	}
	src.Close()
	path := filepath.Join(t.TempDir(), "data", "queue.db")
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(t.TempDir(), "nologin")
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	_, err = RestoreWith(backup, path, RestoreOptions{SpoolThreshold: testThreshold,
		Lost: func([]NotInBackup, bool) error { return nil }})
	t.Logf("restore: %v", err)
	if _, err := os.Lstat(target); err == nil {
		t.Errorf("db restore created %s through the dangling symlink queue.db", target)
	}
}

// OPS-1, OPS-3 (opsec26 F3, the daemon's side): a dangling symlink at
// queue.db is refused in words by Open too, and nothing is made where it
// points; an existing database reached through a symlink still opens.
func TestOPS1OpenMakesNoDatabaseThroughADanglingLink(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "queue.db")
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(t.TempDir(), "elsewhere.db")
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Options{})
	if err == nil {
		s.Close()
		t.Fatal("Open through a dangling symlink at queue.db made a database")
	}
	if !strings.Contains(err.Error(), "symlink") {
		t.Errorf("Open through a dangling symlink: %v; want it said", err)
	}
	if _, err := os.Lstat(target); err == nil {
		t.Errorf("Open created %s through the dangling symlink", target)
	}
	// The file the link names made by its owner: opened as before.
	s, err = Open(target, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = Open(path, Options{}); err != nil {
		t.Fatalf("Open of a database through a symlink: %v", err)
	}
	s.Close()
}

// OPS-1, OPS-3 (opsec26 F3, its sibling in db compact): a symlink at
// queue.db naming an existing empty file (as /etc/nologin) — an empty
// file is one bbolt makes a new database of at a writable open — is not
// written through by db compact run as root: there is no database to
// compact, and the file the link names is left empty.
func TestOPS1CompactWritesNothingThroughALinkedEmptyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "queue.db")
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		t.Fatal(err)
	}
	victim := filepath.Join(t.TempDir(), "nologin")
	if err := os.WriteFile(victim, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, path); err != nil {
		t.Fatal(err)
	}
	_, _, err := CompactSpooling(path, testThreshold)
	t.Logf("compact: %v", err)
	if fi, err := os.Stat(victim); err != nil || fi.Size() != 0 {
		t.Errorf("db compact wrote through the symlink queue.db into %s: %v", victim, fi.Size())
	}
}
