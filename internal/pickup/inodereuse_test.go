package pickup

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// SR-12: a new drop under the same name whose inode number is the one
// a former drop freed (ext4, xfs reuse a freed inode at once), with the
// same size and a modification time a tool set (cp -p, rsync -t, tar x,
// touch -r) is another drop: it must be queued. The key without the
// change time reads it as the drop submitted before: nothing queued, the
// file marked with the former message (and removed when that ends): the
// new message is lost.
func TestSR12ReusedInodeWithSetMtimeIsANewDrop(t *testing.T) {
	q, st, _ := realQueue(t)
	dir := t.TempDir()
	release, err := Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	mtime := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	first := "X-Receiver: a@example.net\nMessage-ID: <one@app.example>\nSubject: x\n\nhi\n"
	second := "X-Receiver: b@example.net\nMessage-ID: <two@app.example>\nSubject: x\n\nhi\n"
	path := filepath.Join(dir, "report.eml")
	if err := os.WriteFile(path, []byte(first), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	ino := func(p string) uint64 {
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Sys().(*syscall.Stat_t).Ino
	}
	firstIno := ino(path)
	w := New(Config{Dir: dir, Hostname: "hub.test", Queue: q})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); w.wg.Wait() }()
	w.Scan(ctx)
	ms := queued(t, st)
	if len(ms) != 1 {
		t.Fatalf("%d messages after the first drop", len(ms))
	}
	marked := filepath.Join(dir, "report."+ms[0].ID.String()+".queued")
	if err := os.Remove(marked); err != nil { // its message handed on: its file goes
		t.Fatal(err)
	}
	// The next report: the same name, size and (set) mtime; ext4 gives
	// it the inode just freed.
	if err := os.WriteFile(path, []byte(second), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	if got := ino(path); got != firstIno {
		t.Skipf("the file system gave another inode (%d, freed %d)", got, firstIno)
	}
	w.Scan(ctx)
	ms = queued(t, st)
	if len(ms) != 2 {
		_, err := os.Stat(filepath.Join(dir, "report."+ms[0].ID.String()+".queued"))
		t.Fatalf("a new drop (another recipient) on a reused inode with a set mtime: %d messages, want 2 (the new file marked as the first message's: %v)", len(ms), err == nil)
	}
}
