package pickup

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"umbra/internal/queue"
)

// SR-12: an earlier build stored a drop's key as path, inode, size and mtime (inodeFileKey). A file
// it submitted and left unmarked (a crash between the commit and the
// rename, a read-only directory) must be found submitted after the
// upgrade, as the README says of "a file submitted by an earlier release
// under its key" — not only under the form with device and change
// time (earlierFileKey) — or it is queued a second time.
func TestSR12FileSubmittedUnderTheInodeKeyNotSubmittedTwice(t *testing.T) {
	q, st, _ := realQueue(t)
	dir := t.TempDir()
	release, err := Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	dropFile(t, dir, "old.eml", "X-Receiver: a@example.net\nSubject: x\n\nhi\n")
	path := filepath.Join(dir, "old.eml")
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	key := inodeFileKey(path, fi)
	m := &queue.Message{ID: q.NewID(), From: "s@example.org", Connector: "pickup", Helo: "old.eml", Rcpts: []queue.Recipient{{Addr: "a@example.net"}}}
	if _, _, err := q.SubmitKeyed(context.Background(), m, []byte("Subject: x\r\n\r\nhi\r\n"), key); err != nil {
		t.Fatal(err)
	}
	if KeyFileGone(dir)("old.eml", key) {
		t.Error("the earlier release's key of a file still there: gone")
	}
	w := New(Config{Dir: dir, Hostname: "hub.test", Queue: q})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); w.wg.Wait() }()
	w.Scan(ctx)
	if ms := queued(t, st); len(ms) != 1 {
		t.Fatalf("the file the earlier release submitted was submitted again: %d messages", len(ms))
	}
	if _, err := os.Stat(filepath.Join(dir, "old."+m.ID.String()+".queued")); err != nil {
		t.Fatalf("the file is not marked with its message: %v", err)
	}
}

// SR-12: the other side: a key an earlier build stored
// (inodeFileKey) must not take a new file born since on the reused inode
// (same size, mtime set) for its drop.
func TestSR12InodeKeyDoesNotTakeANewFileOnTheReusedInode(t *testing.T) {
	q, st, _ := realQueue(t)
	dir := t.TempDir()
	release, err := Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	path := filepath.Join(dir, "report.eml")
	mtime := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	put := func(c string) uint64 {
		if err := os.WriteFile(path, []byte(c), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		fi, _ := os.Lstat(path)
		return fi.Sys().(*syscall.Stat_t).Ino
	}
	ino := put("X-Receiver: a@example.net\nSubject: x\n\nhi\n")
	fi, _ := os.Lstat(path)
	m := &queue.Message{ID: q.NewID(), From: "s@example.org", Connector: "pickup", Helo: "report.eml", Rcpts: []queue.Recipient{{Addr: "a@example.net"}}}
	if _, _, err := q.SubmitKeyed(context.Background(), m, []byte("Subject: x\r\n\r\nhi\r\n"), inodeFileKey(path, fi)); err != nil {
		t.Fatal(err)
	}
	os.Remove(path)
	time.Sleep(20 * time.Millisecond) // a birth time past the key's
	if put("X-Receiver: b@example.net\nSubject: x\n\nhi\n") != ino {
		t.Skip("no inode reuse")
	}
	w := New(Config{Dir: dir, Hostname: "hub.test", Queue: q})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); w.wg.Wait() }()
	w.Scan(ctx)
	if n := len(queued(t, st)); n != 2 {
		t.Fatalf("a new file on the reused inode under an inode-form key: %d messages, want 2", n)
	}
}
