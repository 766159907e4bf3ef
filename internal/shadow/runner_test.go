package shadow

import (
	"context"
	"sync"
	"testing"
	"time"
)

// schedRunner stands for the scheduler: it records the destination and
// window of every session and, while refusing, starts none (its window
// for the primary still counts one).
type schedRunner struct {
	mu       sync.Mutex
	refusing bool
	asked    map[string]int // dest → requests
	max      map[string]int
	wg       sync.WaitGroup
}

func (r *schedRunner) StartTask(ctx context.Context, dest, _ string, max int, fn func(context.Context) error) bool {
	r.mu.Lock()
	r.asked[dest]++
	r.max[dest] = max
	refusing := r.refusing
	r.mu.Unlock()
	if refusing {
		return false
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		_ = fn(ctx)
	}()
	return true
}

func (r *schedRunner) get(dest string) (asked, max int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.asked[dest], r.max[dest]
}

// The manager runs its heartbeats as tasks of the primary's destination
// in the scheduler, window 1; one the scheduler does not start (window
// still full, or stopped) is not lost: its bound is disarmed and the next
// step asks again, so the timing stays the stored state's. A sender
// waiting on the primary, as the queue records it (UrgentUntil), opens a
// watch session in its own destination at the next step.
func TestStepRunsSessionsThroughTheScheduler(t *testing.T) {
	m, st, hb, clk := setup()
	r := &schedRunner{refusing: true, asked: map[string]int{}, max: map[string]int{}}
	m.cfg.Runner = r
	step(t, m, hb, clk, 300*time.Second)
	if asked, max := r.get(HeartbeatDest + "hub-b"); asked != 1 || max != 1 {
		t.Fatalf("heartbeat tasks asked of the scheduler: %d with window %d; want 1 with 1", asked, max)
	}
	m.mu.Lock()
	inFlight := len(m.flight)
	m.mu.Unlock()
	if hb.n("hub-b") != 0 || inFlight != 0 || clk.Pending() != 0 {
		t.Fatalf("a refused heartbeat: %d sessions, %d in flight, %d timers armed", hb.n("hub-b"), inFlight, clk.Pending())
	}
	r.mu.Lock()
	r.refusing = false
	r.mu.Unlock()
	step(t, m, hb, clk, time.Second)
	if hb.n("hub-b") != 1 {
		t.Fatalf("the heartbeat was not asked again at the next step: %d", hb.n("hub-b"))
	}
	if asked, _ := r.get(HeartbeatDest + "hub-b"); asked != 2 {
		t.Fatalf("heartbeat tasks asked: %d, want 2", asked)
	}

	// A sender waits on hub-b (the queue's record): a watch session.
	w := &fakeWatcher{fakeHB: fakeHB{db: "db1", calls: map[string]int{}, hang: map[string]bool{}},
		push: make(chan []string), ended: make(chan struct{}, 10)}
	m.cfg.Heartbeater = w
	st.mu.Lock()
	st.ps["hub-b"].UrgentUntil = clk.Now().Add(time.Minute)
	st.mu.Unlock()
	m.Step(context.Background())
	waitUntil(t, "a watch session", func() bool { return w.connections() == 1 })
	if asked, max := r.get(WatchDest + "hub-b"); asked != 1 || max != 1 {
		t.Fatalf("watch tasks asked: %d with window %d", asked, max)
	}
	w.push <- []string{"m1"}
	waitUntil(t, "the pushed discard", func() bool {
		st.mu.Lock()
		defer st.mu.Unlock()
		n := len(st.discarded["hub-b"])
		return n > 0 && st.discarded["hub-b"][n-1] == "m1"
	})
	// Nobody waits any more: the session ends, and with it the task.
	clk.Advance(time.Minute)
	select {
	case <-w.ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the watch session outlived the waiting senders")
	}
	r.wg.Wait()
}
