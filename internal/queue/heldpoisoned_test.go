package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// panickingGatePlanner is gatedPlanner whose gate.test job panics once
// its gate closes: the attempt ends poisoned (complete's early return).
type panickingGatePlanner struct{ *gatedPlanner }

func (g *panickingGatePlanner) Deliver(ctx context.Context, m *Message, body []byte, rcpts []int) []Result {
	if domainOf(m.Rcpts[rcpts[0]].Addr) == "gate.test" {
		<-g.gate
		panic("a delivery that panics")
	}
	return g.gatedPlanner.Deliver(ctx, m, body, rcpts)
}

// Q-6 (reread of the held entries): a message turned away by a busy destination is
// remembered (dest.held) with a zero recheck while its attempt runs,
// stamped at the attempt's end — but an attempt that ends early (a job
// panicked, a body unreadable: poisoned) never reaches the stamping.
// The zero entry is never forgotten (heldCount skips zero): the busy
// destination's WAITING counts a poisoned message for good.
func TestQ6HeldEntryOfPoisonedAttemptForgotten(t *testing.T) {
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	p := newPlanned()
	p.stall["slow.test"] = true
	g := &panickingGatePlanner{&gatedPlanner{planned: p, gate: make(chan struct{}), plans: map[ID]int{}}}
	q := NewManager(s, g, ManagerConfig{MaxActive: 4, Clock: clk, RetrySchedule: []time.Duration{time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { close(p.stop); cancel(); q.Wait() }()
	q.Start(ctx)
	submit := func(rcpts ...string) *Message {
		m := msg(s, "a@example.org", rcpts...)
		m.Arrived = t0
		if err := q.Submit(ctx, m, []byte(body)); err != nil {
			t.Fatal(err)
		}
		return m
	}
	submit("x@slow.test")
	submit("x@slow.test")
	waitFor(t, "two stalled jobs for slow.test", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.calls["slow.test"] == 2
	})
	submit("z@gate.test")
	time.Sleep(100 * time.Millisecond)
	m := submit("x@slow.test", "y@gate.test") // slow.test's part turned away; gate.test's part runs, then panics
	waitingFor := func(queue string) int {
		for _, di := range q.Destinations() {
			if di.Queue == queue {
				return di.Waiting
			}
		}
		return -1
	}
	waitFor(t, "the message's slow.test part turned away", func() bool { return waitingFor("mx:slow.test") == 1 })
	close(g.gate)
	waitFor(t, "the attempt poisoned", func() bool {
		mm, _ := q.Message(m.ID)
		return mm != nil && mm.State == Poison
	})
	clk.Advance(3 * time.Hour) // far past any recheck
	time.Sleep(100 * time.Millisecond)
	if n := waitingFor("mx:slow.test"); n != 0 {
		t.Fatalf("slow.test WAITING %d three hours after the message it turned away was poisoned (want 0): its held entry, zero while the attempt ran, was never stamped nor forgotten", n)
	}
}
