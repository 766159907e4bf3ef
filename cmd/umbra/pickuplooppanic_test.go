package main

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"umbra/internal/pickup"
	"umbra/internal/queue"
)

// pendingQueue is a queue whose messages are never handed on (a
// destination that defers them: they stay pending for days).
type pendingQueue struct {
	mu   sync.Mutex
	next queue.ID
}

func (q *pendingQueue) NewID() queue.ID { q.mu.Lock(); defer q.mu.Unlock(); q.next++; return q.next }
func (q *pendingQueue) SubmitKeyed(ctx context.Context, m *queue.Message, b []byte, key string) (queue.ID, bool, error) {
	return m.ID, false, nil
}
func (q *pendingQueue) WaitHandedOn(queue.ID) <-chan struct{}        { return make(chan struct{}) }
func (q *pendingQueue) PickupFate(queue.ID, string) queue.PickupFate { return queue.PickupQueued }

// Serve runs the pickup watcher as
// gd.loop(runCtx, "pickup", func() { w.Run(runCtx) }); README
// (umbra_helper_panics_total) says a loop that panicked is counted,
// logged and started again a second later. With one picked-up message
// still pending, a panic of Run (here in a scan, outside the per-file
// recover) is neither counted nor followed by a restart: Run's deferred
// wg.Wait holds the panic until that message is handed on.
func TestOPS2PickupLoopPanicCountedAndRestarted(t *testing.T) {
	defer func(d time.Duration) { helperRestart = d }(helperRestart)
	helperRestart = 10 * time.Millisecond
	gd := newGuard(nil, nil)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.eml"), []byte("X-Receiver: a@example.test\nSubject: x\n\nhi\n"), 0o600)
	var calls atomic.Int32
	w := pickup.New(pickup.Config{Dir: dir, Hostname: "hub.test", Queue: &pendingQueue{}, Interval: 10 * time.Millisecond,
		Paused: func() bool {
			if calls.Add(1) == 2 {
				panic("injected panic in a pickup scan (a defect)")
			}
			return false
		}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go gd.loop(ctx, "pickup", func() { w.Run(ctx) })
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if testutil.ToFloat64(gd.count.WithLabelValues("pickup")) == 1 && calls.Load() > 2 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("3s after the pickup loop panicked: umbra_helper_panics_total{part=pickup} %v, scans %d: the panic was not counted and the loop not restarted (Run waits in its deferred wg.Wait for the pending message)",
		testutil.ToFloat64(gd.count.WithLabelValues("pickup")), calls.Load())
}
