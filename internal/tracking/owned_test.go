package tracking

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"umbra/internal/queue"
)

// OPS-4, rt27c F3: tracking.path named another daemon's queue.db (or
// /etc/passwd); the log appended to it, its rotation renamed it and a
// later one deleted it — the other daemon's transport database was gone
// at its restart. The log opens only a file that is its own: empty or
// umbra's tracking lines, never a bbolt file or another program's text;
// and a file another process holds locked (another daemon's log, a
// live database) is refused.
func TestOpenRefusesFileNotATrackingLog(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "queue.db")
	s, err := queue.Open(db, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	passwd := filepath.Join(dir, "passwd")
	os.WriteFile(passwd, []byte("root:x:0:0:root:/root:/bin/bash\n"), 0o600)
	for path, want := range map[string]string{
		db:     "tracking log " + db + " is not a tracking log (a bbolt database: a transport database?)",
		passwd: "tracking log " + passwd + " is not a tracking log (it holds something other than umbra's tracking lines)",
	} {
		before, _ := os.ReadFile(path)
		l, err := Open(path, 4<<10, 1)
		if err == nil {
			l.Close()
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Open(%s): %v, want %q", path, err, want)
		}
		if err := CheckPath(path, 1); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckPath(%s): %v, want %q", path, err, want)
		}
		if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
			t.Errorf("%s changed", path)
		}
	}
	// A rotated file that is not a tracking log is refused as well: a
	// rotation would rename it and a later one delete it.
	path := filepath.Join(dir, "tracking.log")
	os.WriteFile(path+".1", []byte("root:x:0:0\n"), 0o600)
	if l, err := Open(path, 4<<10, 1); err == nil || !strings.Contains(err.Error(), path+".1 is not a tracking log") {
		if l != nil {
			l.Close()
		}
		t.Errorf("Open with a foreign .1: %v", err)
	}
	// With max_files 0 no .1 is ever touched: it is no concern.
	if l, err := Open(path, 4<<10, 0); err != nil {
		t.Errorf("Open with max_files 0: %v", err)
	} else {
		l.Close()
	}
	// An empty file and umbra's lines are the log's own.
	os.Remove(path + ".1")
	os.WriteFile(path, nil, 0o600)
	l, err := Open(path, 4<<10, 1)
	if err != nil {
		t.Fatal(err)
	}
	l.Write(Entry{Time: time.Now(), Event: "receive", ID: "1"})
	l.Close()
	if err := CheckPath(path, 1); err != nil {
		t.Fatal(err)
	}
	if l, err = Open(path, 4<<10, 1); err != nil {
		t.Fatal(err)
	}
	l.Close()
}

// Two daemons with one tracking path mixed their lines and rotated each
// other's files: the second Open is refused while the first holds it,
// as is a file another process holds locked.
func TestOpenRefusesLockedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tracking.log")
	first, err := Open(path, 4<<10, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := "tracking log " + path + " is locked by another process"
	if l, err := Open(path, 4<<10, 1); err == nil || !strings.Contains(err.Error(), want) {
		if l != nil {
			l.Close()
		}
		t.Fatalf("second Open: %v, want %q", err, want)
	}
	first.Close()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	if l, err := Open(path, 4<<10, 1); err == nil || !strings.Contains(err.Error(), want) {
		if l != nil {
			l.Close()
		}
		t.Fatalf("Open of a file locked elsewhere: %v, want %q", err, want)
	}
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	l, err := Open(path, 4<<10, 1)
	if err != nil {
		t.Fatalf("Open after the lock went: %v", err)
	}
	l.Close()
}

// A rotation renames and deletes only the log's own files: a foreign
// file put in a rotated file's place after the start is neither
// renamed nor deleted (the log keeps writing its current file and says
// so), and the age bound deletes only tracking logs.
func TestRotationTouchesOnlyTrackingLogs(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tracking.log")
	l, err := Open(path, 600, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l.now = func() time.Time { return now }
	foreign := []byte("root:x:0:0:root:/root:/bin/bash\n")
	os.WriteFile(path+".1", foreign, 0o600)
	for i := range 20 {
		l.Write(Entry{Time: now, Event: "receive", ID: "m", Sender: strings.Repeat("s", 40) + string(rune('a'+i))})
	}
	if b, err := os.ReadFile(path + ".1"); err != nil || !bytes.Equal(b, foreign) {
		t.Fatalf("the foreign %s.1 was touched: %q %v", path, b, err)
	}
	if got, _ := l.Search(Query{ID: "m"}); len(got) != 20 {
		t.Errorf("%d entries kept, want all 20 in the unrotated file", len(got))
	}
	// The age bound deletes an old rotated file only when it is a log.
	old := now.Add(-48 * time.Hour)
	os.Chtimes(path+".1", old, old)
	l.SetMaxAge(time.Hour)
	if b, err := os.ReadFile(path + ".1"); err != nil || !bytes.Equal(b, foreign) {
		t.Fatalf("the age bound deleted the foreign %s.1: %v", path, err)
	}
}
