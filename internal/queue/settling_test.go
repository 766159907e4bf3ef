package queue

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"umbra/internal/clock"
)

// rt17c F3: message suspend behind a dead destination is never refused
// as "being delivered": a message whose attempt only got the dead mark
// (no connection) is not in delivery, also while that answer waits for
// its commit. The messages are suspended as the cool-down's end makes
// them due, while the scheduler claims and answers them.
func TestSuspendBehindDeadDestinationNotBusy(t *testing.T) {
	s := openTest(t)
	t0 := time.Unix(1_700_000_000, 0)
	clk := clock.NewFake(t0)
	p := newPlanned()
	p.refuse["down.test"] = true
	q := NewManager(s, p, ManagerConfig{MaxActive: 1000, Clock: clk,
		RetrySchedule: []time.Duration{time.Hour},
		Scheduler:     SchedulerConfig{InitialWindow: 1, DeadCoolDown: time.Minute}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { close(p.stop); cancel(); q.Wait() }()
	q.Start(ctx)
	const n = 300
	var ids []ID
	for i := range n {
		m := msg(s, "a@example.org", fmt.Sprintf("r%d@down.test", i))
		m.Arrived = clk.Now()
		if err := q.Submit(ctx, m, []byte(body)); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	waitFor(t, "every message deferred", func() bool {
		for _, id := range ids {
			if got, _ := q.Message(id); got == nil || got.State != Ready || !got.NextAttempt.After(clk.Now()) {
				return false
			}
		}
		return true
	})
	// The cool-down ends: every message is due and claimed again, the
	// probe refused, the rest answered by the dead mark — while the
	// operator suspends them all.
	probes := p.count(p.calls, "down.test")
	clk.Advance(time.Minute + time.Second)
	q.Kick()
	busy := 0
	for _, id := range ids {
		if err := q.SuspendMessage(ctx, id); errors.Is(err, ErrBusy) {
			busy++
		} else if err != nil && !errors.Is(err, ErrQueueSuspended) {
			t.Logf("suspend %s: %v", id, err)
		}
	}
	// One message may be the probe, truly in delivery.
	if busy > 1 {
		t.Fatalf("%d of %d suspends refused as being delivered behind a dead destination, want at most the probe (%d attempts reached it)",
			busy, n, p.count(p.calls, "down.test")-probes)
	}
}
