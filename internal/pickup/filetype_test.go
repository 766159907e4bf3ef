package pickup

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"umbra/internal/queue"
)

// Only regular files are picked up. A FIFO dropped in the pickup
// directory must not hang the watcher (opening it for reading blocks
// until a writer comes), and a symlink must not make umbra read and mail
// a file it points to (the pickup directory is a drop point for other
// users; umbra reads with its own rights). Both are refused as bad
// files, and the regular file beside them is still taken.
func TestPickupTakesOnlyRegularFiles(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("X-Receiver: a@example.test\nSubject: secret\n\nnot for mail\n"), 0o600)
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo.eml"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(dir, "link.eml")); err != nil {
		t.Fatal(err)
	}
	q := &fakeQueue{handed: map[queue.ID]chan struct{}{}}
	w := New(Config{Dir: dir, Interval: 10 * time.Millisecond, Hostname: "hub.test", Queue: q})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	tmp := filepath.Join(dir, ".ok.tmp")
	os.WriteFile(tmp, []byte("X-Receiver: b@example.test\nSubject: ok\n\nhi\n"), 0o600)
	os.Rename(tmp, filepath.Join(dir, "ok.eml"))
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) { // a bound on the test
		_, e1 := os.Lstat(filepath.Join(dir, "fifo.bad"))
		_, e2 := os.Lstat(filepath.Join(dir, "link.bad"))
		q.mu.Lock()
		n := len(q.msgs)
		q.mu.Unlock()
		if e1 == nil && e2 == nil && n >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("fifo refused: %v, symlink refused: %v, submitted: %d", e1 == nil, e2 == nil, n)
		}
	}
	time.Sleep(50 * time.Millisecond) // a few more scans: nothing else may be taken
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.msgs) != 1 || q.msgs[0].Rcpts[0].Addr != "b@example.test" {
		t.Fatalf("submitted %d messages: %+v", len(q.msgs), q.msgs)
	}
	for _, m := range q.msgs {
		if strings.Contains(m.From+m.Rcpts[0].Addr, "a@example.test") {
			t.Fatal("the symlink's target was submitted")
		}
	}
}
