package shadow

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// syncRunner runs each task at once, in the step, and records what it
// returned: what the scheduler's taskDone is given (queue/tasks.go: nil
// clears the destination's failures in a row and its last error, and
// widens its window).
type syncRunner struct {
	mu   sync.Mutex
	errs []error
}

func (r *syncRunner) StartTask(ctx context.Context, dest, _ string, _ int, fn func(context.Context) error) bool {
	if !strings.HasPrefix(dest, HeartbeatDest) {
		return false
	}
	err := fn(ctx)
	r.mu.Lock()
	r.errs = append(r.errs, err)
	r.mu.Unlock()
	return true
}

// SPEC SR-7, Q-5: a heartbeat that ends by a fault of this server's own
// (a recovered panic: LocalFault) counts no failed heartbeat — and must
// not count a success either. Two heartbeats to a primary that does not
// answer failed (the scheduler's row: 2 failures in a row, "connection
// refused"); the third panicked here before it learnt anything of the
// primary. The session returned nil to the scheduler, which took it for
// a completed heartbeat: the row's failures in a row and last error were
// cleared and its window widened, while the primary had not answered
// since.
func TestLocalFaultHeartbeatIsNoSuccessForTheScheduler(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	st := &fakeStore{clk: clk, discarded: map[string][]string{}, copies: map[string]bool{"hub-b": true},
		ps: map[string]*Primary{"hub-b": {Name: "hub-b", Addr: "127.0.0.2:25", LastContact: clk.Now()}}}
	hb := &fakeHB{db: "db1", calls: map[string]int{}, hang: map[string]bool{}, err: errors.New("connection refused")}
	r := &syncRunner{}
	const timeout = 300 * time.Second
	m := New(Config{Timeout: timeout, Retries: 5, Clock: clk, Store: st, Heartbeater: hb, Runner: r})
	ctx := context.Background()
	step := func() {
		clk.Advance(timeout + time.Second)
		m.Step(ctx)
	}
	step()
	step()
	hb.mu.Lock()
	hb.err = localFaultErr{}
	hb.mu.Unlock()
	step()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.errs) < 3 {
		t.Fatalf("heartbeats run: %d", len(r.errs))
	}
	if r.errs[0] == nil || r.errs[1] == nil {
		t.Fatalf("the failed heartbeats returned %v", r.errs)
	}
	if last := r.errs[len(r.errs)-1]; last == nil {
		t.Fatalf("the heartbeat that panicked here returned nil to the scheduler: a success, which clears the destination's 2 failures in a row and its last error (%v) though the primary never answered", r.errs[1])
	}
}
