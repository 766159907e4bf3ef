package pickup

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// SR-12: a pickup file's key names the drop, not its inode's change
// time. An operator who fixes the permissions of an unmarked file (its
// rename to .queued failed: a read-only directory a moment) with chmod
// or chown changes only its ctime: the next scan must find the same
// drop, queue nothing and mark the file with the message it made. A new
// drop under the same name (written and renamed in) is still another
// message.
func TestSR12ChmodOfAnUnmarkedFileIsTheSameDrop(t *testing.T) {
	q, st, _ := realQueue(t)
	dir := t.TempDir()
	content := "X-Receiver: a@example.net\nMessage-ID: <chmod@app.example>\nSubject: x\n\nhi\n"
	dropFile(t, dir, "perm.eml", content)
	path := filepath.Join(dir, "perm.eml")

	stuck := New(Config{Dir: dir, Hostname: "hub.test", Queue: q})
	stuck.rename = func(string, string) error { return errors.New("read-only directory") }
	ctx, cancel := context.WithCancel(context.Background())
	stuck.Scan(ctx)
	cancel()
	stuck.wg.Wait()
	if n := len(queued(t, st)); n != 1 {
		t.Fatalf("%d messages after the first scan", n)
	}

	// The operator fixes the permissions: ctime changes, nothing else.
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		if err := os.Chown(path, 1, 1); err != nil {
			t.Fatal(err)
		}
	}
	w := New(Config{Dir: dir, Hostname: "hub.test", Queue: q})
	ctx, cancel = context.WithCancel(context.Background())
	defer func() { cancel(); w.wg.Wait() }()
	w.Scan(ctx)
	ms := queued(t, st)
	if len(ms) != 1 {
		t.Fatalf("after a chmod the unmarked file was submitted again: %d messages", len(ms))
	}
	if _, err := os.Stat(filepath.Join(dir, "perm."+ms[0].ID.String()+".queued")); err != nil {
		t.Fatalf("the file is not marked with its message: %v", err)
	}

	// A new drop of the same content under the same name is a new message.
	dropFile(t, dir, "perm.eml", content)
	w.Scan(ctx)
	if ms = queued(t, st); len(ms) != 2 {
		t.Fatalf("a new drop under the same name: %d messages, want 2", len(ms))
	}
}
