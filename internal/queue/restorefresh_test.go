package queue

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// OPS-3 (rr24 F2): a restore onto a data directory without a database
// holds the database's name locked from its start (an empty file, which
// a start treats as no database): a daemon starting meanwhile waits and
// gives up as "in use" instead of making a database of its own there
// whose Open (finishRestore) deletes the restore's copy — the restore
// then said the operator's sound backup was damaged — or whose mail the
// rename drops.
func TestRestoreOntoNoDatabaseHoldsTheName(t *testing.T) {
	ctx := context.Background()
	src, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := msg(src, "a@example.org", "b@example.test")
	m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
	if err := src.Update(ctx, func(tx *Tx) error { return tx.PutNew(m, []byte("From: a@example.org\r\n\r\nx\r\n")) }); err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(t.TempDir(), "backup.db")
	if _, err := src.WriteBackup(backup); err != nil {
		t.Fatal(err)
	}
	src.Close()

	path := filepath.Join(t.TempDir(), "queue.db") // a fresh host: no database yet
	var daemon *Store
	var heldAtCopy bool
	defer func() { restoreStep = nil }()
	restoreStep = func(point string) {
		if point != "copied" {
			return
		}
		heldAtCopy, _, _ = LockHolder(path)
		// A daemon starting now (systemd's Restart=, an operator's start).
		daemon, _ = Open(path, Options{})
	}
	_, rerr := RestoreWith(backup, path, RestoreOptions{})
	if daemon != nil {
		defer daemon.Close()
	}
	if !heldAtCopy {
		t.Errorf("during the restore's copy the database's name %s is not locked: a daemon starting opens a database of its own there", path)
	}
	if daemon != nil {
		t.Errorf("a daemon opened %s while a restore ran on it (restore: %v)", path, rerr)
	}
	if rerr != nil && strings.Contains(rerr.Error(), "damaged") {
		t.Errorf("the restore blames the backup, which is sound: %v", rerr)
	}
	if rerr != nil {
		t.Fatalf("restore: %v", rerr)
	}
	if _, err := os.Stat(path + ".restore"); err == nil {
		t.Errorf("the restore's copy %s.restore is left", path)
	}
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n := 0
	db.View(func(tx *Tx) error {
		tx.ForEach(func(*Message, error) bool { n++; return true })
		return nil
	})
	if n != 1 {
		t.Errorf("the restored database holds %d messages, want the backup's 1", n)
	}
}

// OPS-3 (rr24 F2): a refused restore onto a data directory without a
// database leaves none: the empty file its lock made is removed.
func TestRestoreRefusedLeavesNoEmptyDatabase(t *testing.T) {
	dir := t.TempDir()
	backup := filepath.Join(dir, "backup.db")
	src, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.WriteBackup(backup); err != nil {
		t.Fatal(err)
	}
	src.Close()
	path := filepath.Join(t.TempDir(), "queue.db")
	defer func() { restoreStep = nil }()
	restoreStep = func(point string) {
		if point == "copied" {
			os.WriteFile(path+".restore", []byte("not a database, written over the copy"), 0o600)
		}
	}
	if _, err := RestoreWith(backup, path, RestoreOptions{}); err == nil {
		t.Fatal("a restore whose copy was damaged succeeded")
	}
	if _, err := os.Stat(path); err == nil {
		t.Errorf("a refused restore left %s, where there was no database", path)
	}
}
