package pickup

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"umbra/internal/queue"
)

// SR-12 (reread of the pickup panics): a panic in the handling of a pickup file after its message
// was submitted (committed to the queue) is recovered as one before it:
// the file is renamed .bad and logged "pickup file refused" — README:
// "the file is refused (renamed .bad, as one that can never be
// submitted)" — while its message is queued and goes out. An operator
// who drops the refused file again (a new drop: new key) sends it twice.
func TestSR12PickupPanicAfterSubmitNotRefused(t *testing.T) {
	dir := t.TempDir()
	q := &fakeQueue{handed: map[queue.ID]chan struct{}{}}
	var panics atomic.Int32
	w := New(Config{Dir: dir, Hostname: "hub.test", Queue: q, Panicked: func() { panics.Add(1) }})
	w.rename = func(oldpath, newpath string) error {
		if strings.HasSuffix(newpath, ".queued") {
			panic("injected panic marking the submitted file")
		}
		return os.Rename(oldpath, newpath)
	}
	f := filepath.Join(dir, "a.eml")
	os.WriteFile(f, []byte("X-Receiver: a@example.test\nSubject: x\n\nhi\n"), 0o600)
	w.Scan(context.Background())
	q.mu.Lock()
	n := len(q.msgs)
	q.mu.Unlock()
	if panics.Load() != 1 || n != 1 {
		t.Fatalf("setup: %d panics, %d messages submitted", panics.Load(), n)
	}
	if _, err := os.Stat(filepath.Join(dir, "a.bad")); err == nil {
		t.Fatalf("the file whose message was submitted (queued, to be delivered) is renamed .bad and logged refused: dropping it again sends it twice")
	}
}
