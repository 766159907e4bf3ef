package queue

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The rig of the backup, restore and compaction tests. They need a store
// in a data directory of its own: they reopen the directory, move its
// spool aside, copy it, or kill a restore into it.

// dataDirStore opens a store at data/queue.db in a new temporary
// directory and returns the database's path; the caller closes the store.
func dataDirStore(t *testing.T) (string, *Store) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "data", "queue.db")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return path, s
}

// putReady stores a Ready message with content as its body, its next
// attempt an hour away.
func putReady(t *testing.T, s *Store, content []byte) *Message {
	t.Helper()
	m := msg(s, "a@example.org", "b@example.test")
	m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(m, content) }); err != nil {
		t.Fatal(err)
	}
	return m
}

// putReadySpooled is putReady with the body in a spool file, returned
// with the message.
func putReadySpooled(t *testing.T, s *Store, content []byte) (*Message, Body) {
	t.Helper()
	b := spooled(t, s, content)
	m := msg(s, "a@example.org", "b@example.test")
	m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNewBody(m, b) }); err != nil {
		t.Fatal(err)
	}
	return m, b
}

// spoolName is the base name of a spooled body's file.
func spoolName(b Body) string {
	p, _, _ := b.File()
	return filepath.Base(p)
}

// backupTo saves a backup of s taken with opts to a new file and
// returns its path.
func backupTo(t *testing.T, s *Store, opts BackupOptions) string {
	t.Helper()
	backup := filepath.Join(t.TempDir(), "backup.db")
	if _, err := SaveBackup(backup, func(w io.Writer) (int64, error) {
		return s.BackupWith(w, opts, nil)
	}); err != nil {
		t.Fatal(err)
	}
	return backup
}

// dirsHolding names the directories in dir that hold a file called name:
// where a spooled body ended up after a restore or a start.
func dirsHolding(dir, name string) []string {
	ents, _ := os.ReadDir(dir)
	var where []string
	for _, e := range ents {
		if _, err := os.Stat(filepath.Join(dir, e.Name(), name)); err == nil {
			where = append(where, e.Name())
		}
	}
	return where
}

// copyTree copies the directory from, with everything below it, to to.
func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.Walk(from, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if fi.IsDir() {
			return os.MkdirAll(dst, 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}
