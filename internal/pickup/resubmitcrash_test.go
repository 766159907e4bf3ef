package pickup

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"umbra/internal/queue"
)

// SR-12: a .queued file the database does not know is
// given back by a link to NAME.restored-<id>.eml and then removed. A
// crash between the link and the removal leaves both names on one
// inode. The next start's reattach cannot link (the name is taken) and
// leaves the .queued file; the scan submits the .eml and marks it away;
// the start after that links the .queued file again — free name now —
// and the same message is submitted a second time.
func TestSR12ResubmitCrashBetweenLinkAndRemoveSubmitsOnce(t *testing.T) {
	dir := t.TempDir()
	id := queue.ID(9)
	old := filepath.Join(dir, "report."+id.String()+".queued")
	if err := os.WriteFile(old, []byte("X-Receiver: a@example.test\nSubject: yesterday\n\nonly copy\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The crash: linked, not yet removed (watcher.go resubmit).
	if err := os.Link(old, filepath.Join(dir, "report.restored-"+id.String()+".eml")); err != nil {
		t.Fatal(err)
	}
	q := &fakeQueue{handed: map[queue.ID]chan struct{}{}, next: 100, fates: map[queue.ID]queue.PickupFate{id: queue.PickupUnknown}}
	start := func(until func() bool, d time.Duration) {
		w := New(Config{Dir: dir, Interval: 10 * time.Millisecond, Hostname: "hub.test", Queue: q})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { w.Run(ctx); close(done) }()
		for deadline := time.Now().Add(d); time.Now().Before(deadline) && !until(); time.Sleep(10 * time.Millisecond) {
		}
		cancel()
		<-done
	}
	n := func() int { q.mu.Lock(); defer q.mu.Unlock(); return len(q.msgs) }
	// The start after the crash: the given-back name is submitted.
	start(func() bool { return n() >= 1 }, 5*time.Second)
	if n() != 1 {
		t.Fatalf("%d submissions after the first start, want 1", n())
	}
	// An ordinary restart later.
	start(func() bool { return n() >= 2 }, time.Second)
	if got := n(); got != 1 {
		ents, _ := os.ReadDir(dir)
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("%d submissions of one pickup file, want 1 (a crash between resubmit's link and remove, then a restart: two names, two submissions); dir now %v", got, names)
	}
}
