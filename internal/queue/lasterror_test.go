package queue

import (
	"context"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// recovering defers its first attempt (the next hop's greeting failed),
// then relays to primary hub-b, which keeps the message: this server
// holds a shadow copy.
type recovering struct {
	mu    sync.Mutex
	tries int
	calls chan struct{}
}

func (d *recovering) Deliver(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
	d.mu.Lock()
	d.tries++
	first := d.tries == 1
	d.mu.Unlock()
	defer func() { d.calls <- struct{}{} }()
	var out []Result
	for _, i := range rcpts {
		if first {
			out = append(out, Result{Rcpt: i, Outcome: Deferred, Queue: "site:b", NextHop: "hub-b",
				Reply: "451 4.4.2 greeting from hub-b: connection reset"})
			continue
		}
		out = append(out, Result{Rcpt: i, Outcome: ShadowedOK, Queue: "site:b", Reply: "250 ok",
			Primary: "hub-b", PrimaryAddr: "127.0.0.2:25", ShadowID: m.ID.String() + "-b"})
	}
	return out
}

// A message's last error describes a state: once that state ends it is
// no longer shown. A copy relayed after its next hop recovered, and a
// poison message the operator resumed, no longer list the old error.
func TestLastErrorEndsWithItsState(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	d := &recovering{calls: make(chan struct{}, 10)}
	q := NewManager(s, d, ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Minute}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	m := msg(s, "a@example.org", "x@ext.example")
	m.Arrived = clk.Now()
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	<-d.calls
	waitFor(t, "the deferral committed", func() bool {
		got, _ := q.Message(m.ID)
		return got != nil && got.State == Ready && got.LastError != ""
	})
	clk.Advance(2 * time.Minute)
	q.Kick()
	<-d.calls
	waitFor(t, "the relay committed", func() bool {
		got, _ := q.Message(m.ID)
		return got != nil && got.State == Shadow
	})
	if got, _ := q.Message(m.ID); got.LastError != "" {
		t.Errorf("relayed copy lists last error %q", got.LastError)
	}

	// A poison message resumed by the operator.
	p := msg(s, "a@example.org", "y@ext.example")
	if err := s.Update(ctx, func(tx *Tx) error {
		p.State, p.CrashCount, p.Arrived = Poison, 2, clk.Now()
		p.LastError = "in flight during 2 crashes while umbra processed it"
		return tx.PutNew(p, []byte(body))
	}); err != nil {
		t.Fatal(err)
	}
	if err := q.ResumeMessage(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	got, err := q.Message(p.ID)
	if err == nil && got.LastError != "" {
		t.Errorf("resumed poison message lists last error %q", got.LastError)
	}
}
