package queue

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// soundBackup writes a backup of a database holding a few messages and
// returns its path and the data directory's database path (the server
// stopped, the database sound).
func soundBackup(t *testing.T) (backup, live string) {
	t.Helper()
	dir := t.TempDir()
	live = filepath.Join(dir, "data", "queue.db")
	os.MkdirAll(filepath.Dir(live), 0o700)
	s, err := Open(live, Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 40; i++ {
		m := msg(s, "a@example.org", "b@example.test")
		m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
		if err := s.Update(context.Background(), func(tx *Tx) error {
			return tx.PutNew(m, []byte("From: a@example.org\r\n\r\n"+strings.Repeat("body line\r\n", 300)))
		}); err != nil {
			t.Fatal(err)
		}
	}
	backup = filepath.Join(dir, "b.db")
	if _, err := s.WriteBackup(backup); err != nil {
		t.Fatal(err)
	}
	s.Close()
	return backup, live
}

// A backup cut short (an interrupted copy) at any length is damaged to
// every reader of a backup — its origin, its verification and a restore
// — never a crash, and never "sound": also when the cut leaves every
// page a transaction reads but not every page the file's meta page
// says it has. The restore leaves the database as it was.
func TestTruncatedBackupIsDamaged(t *testing.T) {
	backup, live := soundBackup(t)
	good, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyBackup(backup); err != nil {
		t.Fatalf("the sound backup: %v", err)
	}
	before, _ := os.ReadFile(live)
	page := os.Getpagesize()
	var cuts []int
	for n := page; n < len(good); n += page {
		cuts = append(cuts, n, n-1000)
	}
	cuts = append(cuts, len(good)-1, 100)
	cut := filepath.Join(filepath.Dir(backup), "cut.db")
	for _, n := range cuts {
		if err := os.WriteFile(cut, good[:n], 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := BackupOrigin(cut); err == nil || !strings.Contains(err.Error(), "damaged") {
			t.Errorf("cut at %d of %d bytes: origin: %v", n, len(good), err)
		}
		if err := CheckBackupOrigin(cut, ""); err == nil || !strings.Contains(err.Error(), "damaged") {
			t.Errorf("cut at %d: origin check: %v", n, err)
		}
		if err := VerifyBackup(cut); err == nil {
			t.Errorf("cut at %d: verified sound", n)
		}
		if _, err := Restore(cut, live); err == nil || !strings.Contains(err.Error(), "damaged") ||
			!strings.Contains(err.Error(), "unchanged") {
			t.Errorf("cut at %d: restore: %v", n, err)
		}
		if after, _ := os.ReadFile(live); !bytes.Equal(before, after) {
			t.Fatalf("cut at %d: the database changed", n)
		}
	}
}

// A restore is what a damaged database is replaced with: a truncated
// queue.db is kept as queue.db.replaced-TIME, byte for byte, and the
// restored database opens.
func TestRestoreOverTruncatedDatabase(t *testing.T) {
	backup, live := soundBackup(t)
	whole, _ := os.ReadFile(live)
	page := os.Getpagesize()
	// (The live file ends in pages bbolt grew it by and has not used:
	// cuts within the used part.)
	for _, n := range []int{4 * page, len(whole) / 3, len(whole) / 2} {
		if err := os.WriteFile(live, whole[:n], 0o600); err != nil {
			t.Fatal(err)
		}
		if s, err := Open(live, Options{}); err == nil {
			s.Close()
			t.Fatalf("cut at %d: the damaged database opened", n)
		} else if !errors.Is(err, ErrDamaged) {
			t.Fatalf("cut at %d: %v", n, err)
		}
		kept, err := Restore(backup, live)
		if err != nil {
			t.Fatalf("cut at %d: restore over the damaged database: %v", n, err)
		}
		if b, _ := os.ReadFile(kept); !bytes.Equal(b, whole[:n]) {
			t.Errorf("cut at %d: %s is not the replaced file", n, kept)
		}
		s, err := Open(live, Options{})
		if err != nil {
			t.Fatalf("cut at %d: the restored database: %v", n, err)
		}
		s.Close()
		os.Remove(kept)
	}
}

// What is not a regular file with bytes — a FIFO, an empty file, a
// directory — is refused by every reader of a backup at once, naming
// it: opening a FIFO waited for a writer forever, and an empty file
// read as "write: bad file descriptor".
func TestBackupReadersRefuseOddFiles(t *testing.T) {
	backup, live := soundBackup(t)
	dir := filepath.Dir(backup)
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.db")
	os.WriteFile(empty, nil, 0o600)
	before, _ := os.ReadFile(live)
	for path, want := range map[string]string{fifo: "FIFO", empty: "empty file", dir: "directory"} {
		done := make(chan []error, 1)
		go func() {
			_, _, e1 := BackupOrigin(path)
			_, e3 := Restore(path, live)
			done <- []error{e1, VerifyBackup(path), e3}
		}()
		select {
		case errs := <-done:
			for i, err := range errs {
				if err == nil || !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(want)) || strings.Contains(err.Error(), "bad file descriptor") {
					t.Errorf("%s: reader %d: %v", want, i, err)
				}
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: a reader hangs", want)
		}
	}
	if after, _ := os.ReadFile(live); !bytes.Equal(before, after) {
		t.Fatal("the database changed")
	}
}
