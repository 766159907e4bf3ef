package pickup

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"umbra/internal/queue"
)

// fatefulPanic is a queue whose PickupFate panics (a defect, reached on
// the goroutine that waits for a pickup file's message to be handed on).
type fatefulPanic struct{ *fakeQueue }

func (fatefulPanic) PickupFate(queue.ID, string) queue.PickupFate {
	panic("injected panic asking a pickup file's fate")
}

// SR-12, OPS-2: a panic on the goroutine that waits for a picked-up
// message to be handed on (here: asking its fate once the wait ended) is
// recovered: counted (umbra_pickup_panics_total), logged, the file kept
// under its .queued name for the next start to settle (its message is
// queued; nothing is lost, nothing sent twice), and the daemon goes on.
// Seen to fail first: the test binary died of the panic.
func TestPickupHandedWaitPanicRecovered(t *testing.T) {
	dir := t.TempDir()
	fq := &fakeQueue{handed: map[queue.ID]chan struct{}{}}
	var panics atomic.Int32
	w := New(Config{Dir: dir, Hostname: "hub.test", Queue: fatefulPanic{fq}, Panicked: func() { panics.Add(1) }})
	os.WriteFile(filepath.Join(dir, "a.eml"), []byte("X-Receiver: a@example.test\nSubject: x\n\nhi\n"), 0o600)
	w.Scan(context.Background())
	fq.mu.Lock()
	if len(fq.msgs) != 1 {
		fq.mu.Unlock()
		t.Fatalf("%d messages submitted, want 1", len(fq.msgs))
	}
	id := fq.msgs[0].ID
	ch := fq.handed[id]
	fq.mu.Unlock()
	close(ch) // handed on: the goroutine asks its fate, which panics
	w.wg.Wait()
	if n := panics.Load(); n != 1 {
		t.Fatalf("%d panics counted, want 1", n)
	}
	if _, err := os.Stat(filepath.Join(dir, "a."+id.String()+".queued")); err != nil {
		t.Fatalf("the .queued file is not kept for the next start: %v", err)
	}
	w.mu.Lock()
	busy := len(w.busy)
	w.mu.Unlock()
	if busy != 0 {
		t.Fatalf("the file stays busy after the panic")
	}
}
