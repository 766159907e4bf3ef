package queue

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Q-5 (lifert39 F1): which empty queue.db is a truncated database and
// which one a database is made in. Beside spool/, with nothing else to
// say who emptied it: truncated, refused as damaged, nothing changed.
// Without spool/ (a crash during the very first creation): made. Beside
// spool/ with the side lock a killed process left (queue.db.cmdlock that
// no one holds): a db restore killed while it held the empty file it
// makes where there was no database, or a start killed between making
// the file and writing its first pages — the empty file is that
// process's, and made a database as before.
func TestQ5EmptyDatabaseFileBesideSpool(t *testing.T) {
	cases := []struct {
		name      string
		spool     bool
		cmdLock   bool
		truncated bool
	}{
		{"beside spool/", true, false, true},
		{"no spool/: a first creation cut short", false, false, false},
		{"beside spool/ and a killed command's side lock", true, true, false},
		{"a killed first start's side lock, no spool/", false, true, false},
	}
	for _, c := range cases {
		dir := t.TempDir()
		path := filepath.Join(dir, "queue.db")
		os.WriteFile(path, nil, 0o600)
		if c.spool {
			os.Mkdir(filepath.Join(dir, "spool"), 0o700)
			os.WriteFile(filepath.Join(dir, "spool", "s-0123"), []byte("body"), 0o600)
		}
		if c.cmdLock {
			os.WriteFile(CmdLockPath(path), []byte("12345 umbra db restore b.db\n"), 0o600)
		}
		s, err := Open(path, Options{UnsafeNoSync: true})
		if c.truncated {
			if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "empty") || !strings.Contains(err.Error(), "mv queue.db") {
				t.Errorf("%s: Open = %v; want ErrDamaged naming the empty file and the way out", c.name, err)
			}
			if s != nil {
				s.Close()
			}
			if fi, err := os.Stat(path); err != nil || fi.Size() != 0 {
				t.Errorf("%s: the refused open changed the file: %v %v", c.name, fi, err)
			}
			if _, err := os.Stat(filepath.Join(dir, "spool", "s-0123")); err != nil {
				t.Errorf("%s: the refused open moved the spool file: %v", c.name, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: Open = %v; want a new database", c.name, err)
			continue
		}
		if s.DatabaseID() == "" {
			t.Errorf("%s: no database id", c.name)
		}
		s.Close()
	}
}

// Q-5 (rrlife39 F1): a queue.db that held a database and is emptied
// while its start waits for the lock (a stopping daemon's) was judged by
// what the start saw before the lock: not empty then, so not "found
// empty", and bbolt made a new database in it — the mail gone without a
// word, though spool/ is beside it. Any file there before the lock that
// is empty under it was emptied from outside.
func TestQ5DatabaseEmptiedWhileItsStartWaitsIsRefused(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "queue.db")
	s, err := Open(path, Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "spool")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	holder, err := lockDB(path, true, 0) // a daemon still stopping
	if err != nil {
		t.Fatal(err)
	}
	var once bool
	hookLockWait = func(string) {
		if once {
			return
		}
		once = true
		// Emptied from outside while the start waits; then let go.
		if err := os.Truncate(path, 0); err != nil {
			t.Error(err)
		}
		holder.Close()
	}
	defer func() { hookLockWait = nil }()
	s, err = Open(path, Options{UnsafeNoSync: true})
	if !once {
		t.Fatal("Open did not wait for the held lock")
	}
	if s != nil {
		s.Close()
	}
	if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "empty") {
		t.Errorf("Open = %v; want ErrDamaged naming the empty file", err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != 0 {
		t.Errorf("the refused open made a database in the emptied file: %v %v", fi, err)
	}
}
