package queue

import (
	"context"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// gatedPlanner is planned with a destination, gate.test, whose jobs wait for
// gate to close, and a count of Plan calls per message.
type gatedPlanner struct {
	*planned
	gate  chan struct{}
	mu    sync.Mutex
	plans map[ID]int
}

func (g *gatedPlanner) Plan(ctx context.Context, m *Message, rcpts []int) []Job {
	g.mu.Lock()
	g.plans[m.ID]++
	g.mu.Unlock()
	return g.planned.Plan(ctx, m, rcpts)
}

func (g *gatedPlanner) Deliver(ctx context.Context, m *Message, body []byte, rcpts []int) []Result {
	if domainOf(m.Rcpts[rcpts[0]].Addr) == "gate.test" {
		select {
		case <-g.gate:
		case <-ctx.Done():
		}
	}
	return g.planned.Deliver(ctx, m, body, rcpts)
}

// Q-6 (reread of the exact waiting count): a message turned away by a busy destination while another
// job of its attempt still runs is remembered (dest.held) only until the
// recheck estimated at the verdict plus heldGrace — but its record's
// recheck is set when the attempt's results commit, after that other
// job. A queue destinations call (or a metrics scrape) in between
// forgets it: WAITING no longer counts a message still turned away
// (README: "exact"), and the attempt's end takes it for one a drain
// woke and makes it due at once (claimed again, turned away again)
// instead of at its recheck.
func TestQ6HeldMessageKeptWhileItsAttemptRuns(t *testing.T) {
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	p := newPlanned()
	p.stall["slow.test"] = true
	g := &gatedPlanner{planned: p, gate: make(chan struct{}), plans: map[ID]int{}}
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
	m := submit("x@slow.test", "y@gate.test") // slow.test's part turned away (crowded, at its limit); gate.test's part runs
	waitingFor := func(queue string) int {
		for _, di := range q.Destinations() {
			if di.Queue == queue {
				return di.Waiting
			}
		}
		return -1
	}
	waitFor(t, "the message's slow.test part turned away", func() bool { return waitingFor("mx:slow.test") == 1 })
	clk.Advance(3 * time.Second) // past the verdict's estimate (1s) and heldGrace; the attempt still runs
	time.Sleep(100 * time.Millisecond)
	if mm, _ := q.Message(m.ID); mm == nil || mm.State != Active {
		t.Fatalf("the attempt should still run (its gate.test job)")
	}
	n := waitingFor("mx:slow.test")
	close(g.gate)
	waitFor(t, "the attempt's results committed", func() bool {
		mm, _ := q.Message(m.ID)
		return mm != nil && mm.State == Ready
	})
	time.Sleep(300 * time.Millisecond)
	g.mu.Lock()
	plans := g.plans[m.ID]
	g.mu.Unlock()
	if n != 1 || plans != 1 {
		t.Fatalf("slow.test WAITING %d while the message was still turned away by it (want 1); the message was claimed %d times before its recheck (want 1: due again at its recheck, the clock never moved after the commit)", n, plans)
	}
}
