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

// The daemon runs Watcher.Run under guard.loop
// (cmd/umbra helperpanic.go), which promises that a panic of the loop is
// counted, logged and the loop started again a second later (README:
// umbra_helper_panics_total). Run defers w.wg.Wait(): a panic in Run
// (here in a Scan, outside handleRecovered) waits in that defer for
// every picked-up message still pending to be handed on — hours or
// days for a deferred one — before the guard ever sees it: pickup
// stops scanning, silently (nothing counted, nothing logged).
func TestOPS2PickupRunPanicReachesTheGuardPromptly(t *testing.T) {
	dir := t.TempDir()
	fq := &fakeQueue{handed: map[queue.ID]chan struct{}{}}
	var calls atomic.Int32
	paused := func() bool {
		if calls.Add(1) == 2 {
			panic("injected panic in a scan (a defect)")
		}
		return false
	}
	w := New(Config{Dir: dir, Hostname: "hub.test", Queue: fq, Interval: 10 * time.Millisecond, Paused: paused})
	os.WriteFile(filepath.Join(dir, "a.eml"), []byte("X-Receiver: a@example.test\nSubject: x\n\nhi\n"), 0o600)
	recovered := make(chan any, 1)
	go func() {
		defer func() { recovered <- recover() }()
		w.Run(context.Background())
	}()
	defer func() {
		// let the waiting goroutine end
		fq.mu.Lock()
		for _, ch := range fq.handed {
			select {
			case <-ch:
			default:
				close(ch)
			}
		}
		fq.mu.Unlock()
	}()
	select {
	case r := <-recovered:
		if r == nil {
			t.Fatal("Run returned without the panic")
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Run's panic did not reach its caller within 3s: it waits in Run's deferred wg.Wait for the picked-up message (still pending) to be handed on; guard.loop neither counts it nor restarts pickup meanwhile")
	}
}
