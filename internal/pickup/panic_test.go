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

// SPEC SR-12, OPS-2: a panic while the scan handles one pickup file (a
// defect in the reading of a dropped file, say: outside input) is
// recovered on the watcher's goroutine, where no lock is held: the
// panic is counted (Config.Panicked: umbra_pickup_panics_total), the
// file is refused (renamed .bad, never submitted again and again), and
// the scan goes on with the other files. Seen to fail first: the test
// binary died of the panic — in the daemon, every session and delivery
// with it, and again at each start while the file stayed.
func TestPickupPanicRecovered(t *testing.T) {
	dir := t.TempDir()
	q := &fakeQueue{handed: map[queue.ID]chan struct{}{}}
	var panics atomic.Int32
	w := New(Config{Dir: dir, Hostname: "hub.test", Queue: q, Panicked: func() { panics.Add(1) },
		RcptKey: func(addr string) string {
			if strings.HasPrefix(addr, "boom@") {
				panic("injected panic reading a pickup file")
			}
			return strings.ToLower(addr)
		}})
	boom := filepath.Join(dir, "a-boom.eml")
	os.WriteFile(boom, []byte("X-Receiver: boom@example.test\nSubject: x\n\nhi\n"), 0o600)
	good := filepath.Join(dir, "b-good.eml")
	os.WriteFile(good, []byte("X-Receiver: a@example.test\nSubject: y\n\nhello\n"), 0o600)
	w.Scan(context.Background())
	if n := panics.Load(); n != 1 {
		t.Fatalf("%d panics counted, want 1", n)
	}
	if _, err := os.Stat(filepath.Join(dir, "a-boom.bad")); err != nil {
		t.Fatalf("the file whose handling panicked is not refused: %v", err)
	}
	if _, err := os.Stat(good); !os.IsNotExist(err) {
		t.Fatalf("the other file was not handled after the panic: %v", err)
	}
	w.Scan(context.Background())
	if n := panics.Load(); n != 1 {
		t.Fatalf("%d panics after a second scan: the file panicked again", n)
	}
}
