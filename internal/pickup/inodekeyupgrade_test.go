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

// SR-12: every key rule an earlier build stored a drop under (with the
// device and change time, earlierFileKey; path, inode, size and mtime,
// inodeFileKey; with the birth time and no content, statFileKey) finds
// a file it submitted and left unmarked (a crash between the commit and
// the rename, a read-only directory) submitted after the upgrade, as the
// README says of "a file submitted by an earlier release under its key":
// marked with its message, not queued a second time; its key is kept
// while the file lingers. And a file rewritten in place since, same size
// and modification time, is a new drop under each of them.
func TestSR12FileSubmittedUnderAnEarlierKeyNotSubmittedTwice(t *testing.T) {
	for _, rule := range []struct {
		name string
		key  func(string, os.FileInfo) string
	}{{"device and ctime", earlierFileKey}, {"inode", inodeFileKey}, {"birth time", statFileKey}} {
		t.Run(rule.name, func(t *testing.T) {
			q, st, path, m := submittedUnderKey(t, "old.eml", rule.key)
			dir := filepath.Dir(path)
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
		})
		t.Run(rule.name+", rewritten in place", func(t *testing.T) {
			q, st, path, _ := submittedUnderKey(t, "old.eml", rule.key)
			fi, _ := os.Lstat(path)
			time.Sleep(20 * time.Millisecond) // a change time past the key's
			if err := os.WriteFile(path, []byte("X-Receiver: b@example.net\nSubject: x\n\nhi\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
				t.Fatal(err)
			}
			if rule.name != "device and ctime" && rule.key(path, fi) != rule.key(path, mustLstat(t, path)) {
				t.Fatal("the rewrite changed the earlier key: the case is not made")
			}
			w := New(Config{Dir: filepath.Dir(path), Hostname: "hub.test", Queue: q})
			ctx, cancel := context.WithCancel(context.Background())
			defer func() { cancel(); w.wg.Wait() }()
			w.Scan(ctx)
			if n := len(queued(t, st)); n != 2 {
				t.Fatalf("the rewritten file under an earlier key: %d messages, want 2", n)
			}
		})
	}
}

// submittedUnderKey drops name into a locked pickup directory and queues
// its message under key's rule, as an earlier release did before the
// file's rename failed: the queue, its store, the file's path and the
// message.
func submittedUnderKey(t *testing.T, name string, key func(string, os.FileInfo) string) (*queue.Manager, *queue.Store, string, *queue.Message) {
	t.Helper()
	q, st, _ := realQueue(t)
	dir := t.TempDir()
	release, err := Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
	dropFile(t, dir, name, "X-Receiver: a@example.net\nSubject: x\n\nhi\n")
	path := filepath.Join(dir, name)
	k := key(path, mustLstat(t, path))
	m := &queue.Message{ID: q.NewID(), From: "s@example.org", Connector: "pickup", Helo: name, Rcpts: []queue.Recipient{{Addr: "a@example.net"}}}
	if _, _, err := q.SubmitKeyed(context.Background(), m, []byte("Subject: x\r\n\r\nhi\r\n"), k); err != nil {
		t.Fatal(err)
	}
	if KeyFileGone(dir)(name, k) {
		t.Error("the earlier release's key of a file still there: gone")
	}
	return q, st, path, m
}

func mustLstat(t *testing.T, path string) os.FileInfo {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi
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
