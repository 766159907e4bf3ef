package queue

import (
	"context"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// drainWatch records which messages reached the deliverer; the first
// attempt of a message to "slow@…" waits for release.
type drainWatch struct {
	mu      sync.Mutex
	seen    map[ID]int
	started chan struct{}
	release chan struct{}
}

func (d *drainWatch) Deliver(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
	d.mu.Lock()
	d.seen[m.ID]++
	d.mu.Unlock()
	if m.Rcpts[rcpts[0]].Addr == "slow@example.net" {
		d.started <- struct{}{}
		<-d.release
	}
	var out []Result
	for _, i := range rcpts {
		out = append(out, Result{Rcpt: i, Outcome: RelayedOK, Queue: "mx:example.net", NextHop: "mx.example.net", Reply: "250 ok"})
	}
	return out
}

func (d *drainWatch) attempts(id ID) int { d.mu.Lock(); defer d.mu.Unlock(); return d.seen[id] }

// Once the stop begins (Drain, at SIGTERM), no delivery attempt starts:
// not for mail received during the drain (its receipt still commits:
// stored, due at the next start), not for mail that falls due, not for
// a message retried by the operator. An attempt already running goes
// on and commits its results.
func TestDrainStartsNoAttempt(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	d := &drainWatch{seen: map[ID]int{}, started: make(chan struct{}, 1), release: make(chan struct{})}
	q := NewManager(s, d, ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	q.Start(ctx)
	defer func() { cancel(); q.Wait() }()

	// Mail due in a minute, stored before the stop.
	later := msg(s, "a@example.org", "later@example.net")
	later.Arrived, later.State, later.NextAttempt = clk.Now(), Ready, clk.Now().Add(time.Minute)
	if err := s.Update(ctx, func(tx *Tx) error { return tx.PutNew(later, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	slow := msg(s, "a@example.org", "slow@example.net")
	slow.Arrived = clk.Now()
	if err := q.Submit(ctx, slow, []byte(body)); err != nil {
		t.Fatal(err)
	}
	<-d.started // in delivery when the stop begins

	q.Drain()
	fresh := msg(s, "a@example.org", "fresh@example.net")
	fresh.Arrived = clk.Now()
	if err := q.Submit(ctx, fresh, []byte(body)); err != nil {
		t.Fatalf("a receipt during the drain: %v", err)
	}
	clk.Advance(2 * time.Minute) // later falls due
	q.Kick()
	if err := q.RetryMessage(ctx, later.ID); err != nil {
		t.Fatal(err)
	}
	close(d.release)
	waitFor(t, "the running attempt's commit", func() bool {
		m, err := q.Message(slow.ID)
		return m == nil && err != nil
	})
	cancel()
	q.Wait()
	for _, m := range []*Message{fresh, later} {
		if n := d.attempts(m.ID); n != 0 {
			t.Errorf("%s: %d attempts started during the drain", m.Rcpts[0].Addr, n)
		}
		got, err := q.Message(m.ID)
		if err != nil {
			t.Fatalf("%s: %v", m.Rcpts[0].Addr, err)
		}
		if got.State != Ready || got.Attempts != 0 || got.NextAttempt.After(clk.Now()) {
			t.Errorf("%s after the stop: state %v, %d attempts, due in %s; want ready, none, due at the next start",
				m.Rcpts[0].Addr, got.State, got.Attempts, got.NextAttempt.Sub(clk.Now()))
		}
	}
}
