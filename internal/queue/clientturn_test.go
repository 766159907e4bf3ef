package queue

import (
	"context"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// stepLog is a client (as shadow.Manager is one: heartbeats a timeout
// apart) that records when it was stepped and how much mail was still
// due then; it asks again a second later.
type stepLog struct {
	clk clock.Clock
	s   *Store
	mu  sync.Mutex
	at  []time.Time
	due []int
}

func (c *stepLog) Step(context.Context) time.Duration {
	n := 0
	_ = c.s.View(func(tx *Tx) error { n = len(tx.Due(c.clk.Now(), 1<<30)); return nil })
	c.mu.Lock()
	c.at = append(c.at, c.clk.Now())
	c.due = append(c.due, n)
	c.mu.Unlock()
	return time.Second
}

func (c *stepLog) steps() ([]time.Time, []int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Time(nil), c.at...), append([]int(nil), c.due...)
}

// A dead destination (a primary that refuses every connection) answers
// its jobs without a connection, inside the claim: under a stream of
// due mail toward it (new mail for its site, retries of a short retry
// schedule) the active set never fills and claiming never runs out of
// full batches. The clients must still get their turn at their times —
// the run loop claims one batch per pass and steps the clients between
// batches. (Before, claiming looped while it kept claiming full batches,
// and such a stream held the shadow heartbeats, and so the takeover,
// back for as long as it flowed: 0 failed heartbeats for 43 s.)
func TestClientsSteppedWhileDeadDestinationDrains(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	p := newPlanned()
	p.refuse["sb.test"] = true
	const backlog = 4000
	var ms []*Message
	for i := 0; i < backlog; i++ {
		m := msg(s, "s@ext.test", "u@sb.test")
		m.State, m.NextAttempt, m.Arrived = Ready, clk.Now(), clk.Now()
		ms = append(ms, m)
	}
	if err := s.Update(context.Background(), func(tx *Tx) error {
		for _, m := range ms {
			if err := tx.PutNew(m, []byte(body)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	q := NewManager(s, p, ManagerConfig{Clock: clk, MaxActive: 50})
	c := &stepLog{clk: clk, s: s}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx, c)

	waitFor(t, "the first step", func() bool { at, _ := c.steps(); return len(at) >= 1 })
	waitFor(t, "the destination dead", func() bool { d, _ := destInfo(q, "mx/sb.test"); return d.State == "dead" })
	// Each second of the clock, a step — while the dead destination's
	// backlog is still being answered, not after it.
	for sec := 1; sec <= 3; sec++ {
		clk.Advance(time.Second)
		waitFor(t, "the client's step", func() bool { at, _ := c.steps(); return len(at) > sec })
		at, due := c.steps()
		if !at[sec].Equal(at[0].Add(time.Duration(sec) * time.Second)) {
			t.Fatalf("step %d at %v, want %v", sec, at[sec], at[0].Add(time.Duration(sec)*time.Second))
		}
		if due[sec] == 0 {
			t.Fatalf("second %d: the client was stepped only once the whole backlog of %d was answered (due at each step: %v)", sec, backlog, due)
		}
	}
}
