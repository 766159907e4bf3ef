package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// heldPlanner plans as the deliverer does: a recipient of a suspended
// queue gets a job without a destination (answered held at once), and
// only PlanHeld names its destination.
type heldPlanner struct{ q func() *Manager }

func (h heldPlanner) suspended() bool {
	q := h.q()
	return q != nil && q.IsSuspended("mx:held.test")
}

func (h heldPlanner) Plan(ctx context.Context, m *Message, rcpts []int) []Job {
	if h.suspended() {
		return []Job{{Rcpts: rcpts}}
	}
	return h.PlanHeld(ctx, m, rcpts)
}

func (heldPlanner) PlanHeld(_ context.Context, m *Message, rcpts []int) []Job {
	return []Job{{Dest: "mx/held.test", Queue: "mx:held.test", Max: 3, Rcpts: rcpts}}
}

func (h heldPlanner) Deliver(_ context.Context, m *Message, _ []byte, rcpts []int) []Result {
	out := make([]Result, len(rcpts))
	for k, i := range rcpts {
		out[k] = Result{Rcpt: i, Outcome: Deferred, Queue: "mx:held.test", Reply: "451 4.3.0 later"}
		if h.suspended() {
			out[k].Reply = HeldReply("mx:held.test")
		}
	}
	return out
}

// Q-6, OPS-2 (opsrt43 F1): mail routed to a queue suspended before any
// of it was attempted makes its destination known — listed suspended —
// and so does the start after a restart, with a planner that, as the
// deliverer's, gives a suspended queue's recipients no destination in
// Plan (the destination is PlanHeld's).
func TestQ6HeldMailNamesSuspendedDestination(t *testing.T) {
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
	var cur *Manager
	p := heldPlanner{q: func() *Manager { return cur }}
	q1 := NewManager(s, p, cfg)
	cur = q1
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
	waitFor(t, "the message held and its destination listed suspended", func() bool {
		got, _ := q1.Message(m.ID)
		return got != nil && got.Rcpts[0].Queue == "mx:held.test" && find(q1).State == "suspended"
	})
	cancel1()
	q1.Wait()

	q := NewManager(s, p, cfg)
	cur = q
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	if d := find(q); d.State != "suspended" || d.Queue != "mx:held.test" || d.Max != 3 {
		t.Fatalf("after the restart: %+v; want suspended in mx:held.test with its limit 3", d)
	}
}
