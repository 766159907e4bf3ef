package queue

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Q-5 (lifert39 F1): which empty queue.db is a truncated database and
// which one a database is made in. Beside spool/, with nothing else to
// say who emptied it: truncated, refused as damaged, nothing changed.
// Without spool/ (a crash during the very first creation): made. Beside
// spool/ with the side lock a killed process left (queue.db.cmdlock that
// no one holds): a db restore killed while it held the empty file it
// makes where there was no database, or a start killed between making
// the file and writing its first pages — the empty file is that
// process's, and made a database as before; one older than that side
// lock was empty before the killed process began, and stays refused
// (rrlife39 F2).
func TestQ5EmptyDatabaseFileBesideSpool(t *testing.T) {
	cases := []struct {
		name      string
		spool     bool
		cmdLock   bool
		olderFile bool // the empty file older than the side lock
		truncated bool
	}{
		{"beside spool/", true, false, false, true},
		{"no spool/: a first creation cut short", false, false, false, false},
		{"beside spool/ and a killed command's side lock", true, true, false, false},
		{"a killed first start's side lock, no spool/", false, true, false, false},
		{"beside spool/, emptied before a killed command's side lock", true, true, true, true},
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
			// The killed process wrote its side lock, then made the
			// empty file; or the file was emptied an hour before.
			lock, file := time.Now().Add(-time.Minute), time.Now()
			if c.olderFile {
				file = lock.Add(-time.Hour)
			}
			os.Chtimes(CmdLockPath(path), lock, lock)
			os.Chtimes(path, file, file)
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

// Q-5, OPS-3 (rrlife39 F2): a side lock a killed process left made any
// empty queue.db "that process's", and so a database was made in it. A
// queue.db emptied while umbra was stopped (refused by the start) and
// then a db restore killed before it touched the database (here at its
// first step, killed while it checks the backup) left such a side lock:
// the next start made a new database in the emptied file, the refusal
// gone, the mail with it. The empty file is the killed process's only
// when it is not older than the side lock (both make the side lock, or
// write their words in it, before they make the file); one emptied
// before stays refused. The restore killed while it held the empty file
// it made where there was none still leaves a start that makes the
// database (the contrast case, a real killed process both times).
func TestQ5EmptiedDatabaseStaysRefusedAfterAKilledRestore(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a child process")
	}
	backup := filepath.Join(t.TempDir(), "backup.db")
	src, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.WriteBackup(backup); err != nil {
		t.Fatal(err)
	}
	src.Close()
	for _, c := range []struct {
		name      string
		emptied   bool // queue.db held a database and was emptied; else moved aside (none)
		step      string
		truncated bool
	}{
		{"emptied, the restore killed at its first step", true, "begin", true},
		{"moved aside, the restore killed holding the empty file it made", false, "held", false},
	} {
		t.Run(c.step, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "data", "queue.db")
			os.MkdirAll(filepath.Dir(path), 0o700)
			s, err := Open(path, Options{UnsafeNoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			spoolFile := filepath.Join(filepath.Dir(path), "spool", "s-0123")
			if err := os.WriteFile(spoolFile, []byte("body"), 0o600); err != nil {
				t.Fatal(err)
			}
			if c.emptied {
				if err := os.Truncate(path, 0); err != nil {
					t.Fatal(err)
				}
				// Emptied a while before the restore ran.
				old := time.Now().Add(-time.Hour)
				os.Chtimes(path, old, old)
				if s, err := Open(path, Options{UnsafeNoSync: true}); !errors.Is(err, ErrDamaged) {
					if s != nil {
						s.Close()
					}
					t.Fatalf("the emptied file before the restore: Open = %v; want ErrDamaged", err)
				}
			} else if err := os.Rename(path, path+".damaged"); err != nil {
				t.Fatal(err)
			}
			_, kill := pauseRestoreAt(t, backup, path, c.step)
			kill()
			if _, err := os.Stat(CmdLockPath(path)); err != nil {
				t.Fatalf("the killed restore left no side lock: %v", err)
			}
			s, err = Open(path, Options{UnsafeNoSync: true})
			if s != nil {
				s.Close()
			}
			if c.truncated {
				if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "empty") {
					t.Errorf("%s: Open = %v; want ErrDamaged, the emptied file still refused", c.name, err)
				}
				if fi, err := os.Stat(path); err != nil || fi.Size() != 0 {
					t.Errorf("%s: a database was made in the emptied file: %v %v", c.name, fi, err)
				}
				if _, err := os.Stat(spoolFile); err != nil {
					t.Errorf("%s: the spool file was moved: %v", c.name, err)
				}
				return
			}
			if err != nil {
				t.Errorf("%s: Open = %v; want the database made", c.name, err)
			}
		})
	}
}

// Q-5, OPS-3 (rrlife39 F3): a db restore killed while it held the empty
// queue.db it makes where there was none leaves that file and its side
// lock, and a start makes the database. Run again and stopped before it
// replaced anything (Ctrl-C), the second restore removed the side lock
// at its end but kept the empty file (it had found one): the next start
// refused it as a truncated database beside spool/. The second restore
// removes the killed one's empty file as it removes its own; killed
// itself, it leaves the file as its own (not older than its side lock).
func TestQ5RestoreAfterAKilledRestoreLeavesNoEmptyFile(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a child process")
	}
	backup := filepath.Join(t.TempDir(), "backup.db")
	src, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.WriteBackup(backup); err != nil {
		t.Fatal(err)
	}
	src.Close()
	path := filepath.Join(t.TempDir(), "data", "queue.db")
	os.MkdirAll(filepath.Dir(path), 0o700)
	s, err := Open(path, Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := os.WriteFile(filepath.Join(filepath.Dir(path), "spool", "s-0123"), []byte("body"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path, path+".damaged"); err != nil { // moved aside, as the refusal of a damaged one says
		t.Fatal(err)
	}
	_, kill := pauseRestoreAt(t, backup, path, "held")
	kill()
	if fi, err := os.Stat(path); err != nil || fi.Size() != 0 {
		t.Fatalf("the killed restore left %v %v; want its empty file", fi, err)
	}
	// An hour ago: the side lock, then the empty file.
	lock, file := time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour)
	os.Chtimes(CmdLockPath(path), lock, lock)
	os.Chtimes(path, file, file)
	// The second restore killed too, at its first step: the side lock
	// it leaves is newer than the empty file, which it made its own.
	_, kill = pauseRestoreAt(t, backup, path, "begin")
	kill()
	if fi, err := os.Stat(path); err != nil || fi.Size() != 0 {
		t.Fatalf("the killed restores left %v %v; want the empty file", fi, err)
	}
	_, err = RestoreWith(backup, path, RestoreOptions{Interrupted: func() bool { return true }})
	if !errors.Is(err, ErrInterrupted) {
		t.Fatalf("the third restore: %v; want ErrInterrupted", err)
	}
	s, err = Open(path, Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatalf("start after killed restores and a stopped one: %v; want a database made (there was none)", err)
	}
	s.Close()
}

// Q-5, OPS-3 (rrlife39 F4): the sibling of F3 in db compact. Run after a
// restore killed while it held the empty queue.db it made where there
// was none, compact refused that file as a truncated database ("damaged",
// though nothing was lost) and removed the side lock that told whose it
// was: the next start refused it too. Compact says there is no database
// to work on, and removes the killed process's empty file, so that the
// start makes the database as it would have.
func TestQ5CompactAfterAKilledRestoreLeavesNoEmptyFile(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a child process")
	}
	backup := filepath.Join(t.TempDir(), "backup.db")
	src, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.WriteBackup(backup); err != nil {
		t.Fatal(err)
	}
	src.Close()
	path := filepath.Join(t.TempDir(), "data", "queue.db")
	os.MkdirAll(filepath.Dir(path), 0o700)
	s, err := Open(path, Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := os.WriteFile(filepath.Join(filepath.Dir(path), "spool", "s-0123"), []byte("body"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path, path+".damaged"); err != nil {
		t.Fatal(err)
	}
	_, kill := pauseRestoreAt(t, backup, path, "held")
	kill()
	_, _, err = Compact(path)
	if err == nil || errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "no database to work on") {
		t.Errorf("compact of a killed restore's empty file: %v; want no database to work on, not damage", err)
	}
	s, err = Open(path, Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatalf("start after a killed restore and a compaction: %v; want a database made (there was none)", err)
	}
	s.Close()
}

// Q-1 (rrlife39, left by it): a start that found queue.db empty — another
// daemon's, just made — and waited for its lock may lock a database with
// mail in it by then; were its own making of the database then to fail
// for want of room, refuseNoSpace removed the file "it began" as
// holding nothing. What an open may remove is judged under its lock:
// the file empty when the lock was had (Options.lockedEmpty).
func TestQ1FileFilledWhileTheLockWaitsIsNotTheOpensToRemove(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "queue.db")
	full := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(full, Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	data, err := os.ReadFile(full)
	if err != nil {
		t.Fatal(err)
	}
	holder, err := lockDB(path, true, 0) // the other daemon, starting: its file still empty
	if err != nil {
		t.Fatal(err)
	}
	var once bool
	hookLockWait = func(string) {
		if once {
			return
		}
		once = true
		if err := os.WriteFile(path, data, 0o600); err != nil { // its database made meanwhile
			t.Error(err)
		}
		holder.Close()
	}
	defer func() { hookLockWait = nil }()
	if !holdsNothing(path) {
		t.Fatal("the file is not empty before the lock: the test needs it so")
	}
	var lockedEmpty bool
	db, err := openChecked(path, Options{lockedEmpty: &lockedEmpty})
	if !once {
		t.Fatal("the open did not wait for the held lock")
	}
	if db != nil {
		db.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	if lockedEmpty {
		t.Error("a file that held a database when the lock was had counts as this open's empty file (removed on a full disk)")
	}

	// A file that is empty under the lock is the open's own.
	empty := filepath.Join(t.TempDir(), "queue.db")
	var own bool
	db, err = openChecked(empty, Options{lockedEmpty: &own})
	if db != nil {
		db.Close()
	}
	if err != nil || !own {
		t.Errorf("a new file: lockedEmpty %v, %v; want true", own, err)
	}
}
