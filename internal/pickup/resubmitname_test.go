package pickup

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/queue"
)

// SR-12 (reread of the pickup fates): a .queued file the database does not know is
// given back to the scan under the application's own name, NAME.eml. The
// application saw that name go (its file was marked NAME.<id>.queued)
// and may drop a new NAME.eml — by rename, as the contract says — before
// the scan takes the given-back file (here: back pressure holds the
// scan, as it does at high level): the rename replaces it, and the
// message whose only copy it was is gone, unsubmitted and unlogged.
func TestSR12ResubmittedFileNotReplacedByNextDrop(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, "report.0000000000000009.queued")
	os.WriteFile(old, []byte("X-Receiver: a@example.test\nSubject: yesterday\n\nonly copy\n"), 0o600)
	q := &fakeQueue{handed: map[queue.ID]chan struct{}{}, next: 100, fates: map[queue.ID]queue.PickupFate{9: queue.PickupUnknown}}
	var paused atomic.Bool
	paused.Store(true)
	w := New(Config{Dir: dir, Interval: 10 * time.Millisecond, Hostname: "hub.test", Queue: q, Paused: paused.Load})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(old); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the unknown .queued file was not given back")
		}
	}
	// The application's next drop of the same name, written elsewhere
	// and renamed in.
	tmp := filepath.Join(dir, ".report.tmp")
	os.WriteFile(tmp, []byte("X-Receiver: a@example.test\nSubject: today\n\nnew\n"), 0o600)
	if err := os.Rename(tmp, filepath.Join(dir, "report.eml")); err != nil {
		t.Fatal(err)
	}
	paused.Store(false)
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		q.mu.Lock()
		n := len(q.msgs)
		q.mu.Unlock()
		if n == 2 {
			return
		}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	t.Fatalf("%d submissions, want 2 (yesterday's given-back file and today's drop): the given-back file was replaced by the application's next drop of its name", len(q.msgs))
}
