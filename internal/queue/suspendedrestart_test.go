package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// heldHost plans every recipient to mx/held.test (its queue
// mx:held.test, max 3) and defers what it is given.
type heldHost struct{}

func (heldHost) Plan(_ context.Context, m *Message, rcpts []int) []Job {
	return []Job{{Dest: "mx/held.test", Queue: "mx:held.test", Max: 3, Rcpts: rcpts}}
}

func (heldHost) Deliver(_ context.Context, m *Message, _ []byte, rcpts []int) []Result {
	out := make([]Result, len(rcpts))
	for k, i := range rcpts {
		out[k] = Result{Rcpt: i, Outcome: Deferred, Queue: "mx:held.test", Reply: "451 4.3.0 later"}
	}
	return out
}

// Q-6, OPS-2 (opsrt40 F7): a suspended queue's destination, its
// messages held there, is listed suspended after a restart (queue
// destinations, umbra_scheduler_destinations{state="suspended"}), as
// queue list still lists the queue suspended — not missing until the
// queue is resumed and a delivery runs.
func TestQ6SuspendedDestinationShownAfterRestart(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	cfg := ManagerConfig{MaxActive: 100, Clock: clk, MessageExpiration: 48 * time.Hour,
		RetrySchedule: []time.Duration{time.Hour}, Scheduler: SchedulerConfig{InitialWindow: 2}}
	find := func(q *Manager) DestinationInfo {
		for _, d := range q.Destinations() {
			if d.Name == "mx/held.test" {
				return d
			}
		}
		return DestinationInfo{}
	}
	q1 := NewManager(s, heldHost{}, cfg)
	ctx1, cancel1 := context.WithCancel(context.Background())
	q1.Start(ctx1)
	if err := q1.SuspendQueue(ctx1, "mx:held.test"); err != nil {
		t.Fatal(err)
	}
	m := msg(s, "x@example.org", "a@held.test")
	m.Arrived = clk.Now()
	if err := q1.Submit(ctx1, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the message held in the suspended queue", func() bool {
		got, _ := q1.Message(m.ID)
		return got != nil && got.Rcpts[0].Queue == "mx:held.test" && find(q1).State == "suspended"
	})
	cancel1()
	q1.Wait()

	q := NewManager(s, heldHost{}, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	// Past the scheduler loop's first passes (its first pruning of idle
	// destinations runs at once) and an hour on: still listed while the
	// queue is suspended.
	waitFor(t, "the scheduler loop's first passes", func() bool { q.Kick(); return q.loopPasses.Load() >= 2 })
	clk.Advance(2 * time.Hour)
	passes := q.loopPasses.Load()
	waitFor(t, "a pass after the hour", func() bool { q.Kick(); return q.loopPasses.Load() > passes+1 })
	if d := find(q); d.State != "suspended" {
		t.Fatalf("after the restart: %+v; want the destination listed suspended", d)
	}
	if d := find(q); d.Queue != "mx:held.test" || d.Max != 3 {
		t.Errorf("after the restart: %+v; want suspended in mx:held.test with its limit 3", d)
	}
}
