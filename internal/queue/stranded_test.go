package queue

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/queue/queuetest"
)

// rt17 F7: an attempt whose results could not be committed (a full disk)
// left its message Active — in no time index, never attempted again, its
// shadow copy pinned — until a restart. Then (rt51 F5) it was attempted
// again every strandedRetry, a copy at the next hop each time. Now its
// results wait in memory and their commit is tried again until it goes
// through: the message leaves with no second attempt.
func TestStrandedAttemptIsAttemptedAgain(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var calls atomic.Int32
	var restore atomic.Pointer[func()]
	del := DelivererFunc(func(_ context.Context, m *Message, _ []byte, rcpts []int) []Result {
		if calls.Add(1) == 1 {
			r := queuetest.BreakWrites(t, s.db.Path()) // the disk fills while the next hop takes the message
			restore.Store(&r)
		}
		var out []Result
		for _, i := range rcpts {
			out = append(out, Result{Rcpt: i, Outcome: RelayedOK, Reply: "250 ok", Queue: "mx:example.test"})
		}
		return out
	})
	q := NewManager(s, del, ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	m := msg(s, "a@example.org", "x@example.test")
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the results' commit to fail", func() bool { return q.PendingResults() > 0 })
	stored, err := q.Message(m.ID)
	if err != nil || stored.State != Active {
		t.Fatalf("after the failed commit: %+v, %v", stored, err)
	}
	(*restore.Load())() // room again
	deadline := time.Now().Add(10 * time.Second)
	for {
		clk.Advance(strandedRetry)
		if _, err := q.Message(m.ID); err == ErrNotFound {
			break
		}
		if time.Now().After(deadline) {
			got, _ := q.Message(m.ID)
			t.Fatalf("the message's results were not committed: %+v", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d attempts, want 1 (the first's results were kept and committed)", n)
	}
}
