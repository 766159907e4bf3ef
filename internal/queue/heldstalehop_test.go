package queue

import (
	"context"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// slowPlanned is planned whose delivery takes two minutes of the fake
// clock: the message expires while it is attempted.
type slowPlanned struct {
	*planned
	clk *clock.Fake
}

func (p slowPlanned) Deliver(ctx context.Context, m *Message, body []byte, rcpts []int) []Result {
	p.clk.Advance(2 * time.Minute)
	return p.planned.Deliver(ctx, m, body, rcpts)
}

// dsnlast47: the next hop's reply kept beside a hold (HopReply) is the
// held recipient's alone. A recipient whose record still names a hold
// of a queue no longer suspended is attempted; the reply of that
// attempt is its last reply, and the reply kept before the hold says
// nothing of it: an expiry at that attempt's commit quotes that
// attempt's reply with 550 5.4.7 — not 550 5.7.10 (no verified TLS)
// because the reply kept before the hold named REQUIRETLS.
func TestExpiryAfterHoldEndedIgnoresKeptHopReply(t *testing.T) {
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	p := newPlanned()
	p.refuse["down.test"] = true
	ev := &eventLog{}
	q := NewManager(s, slowPlanned{p, clk}, ManagerConfig{Hostname: "mx.test", Clock: clk, Events: ev,
		RetrySchedule: []time.Duration{10 * time.Second}, MessageExpiration: time.Hour})
	p.suspended = q.IsSuspended
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { close(p.stop); cancel(); q.Wait() }()
	tlsReply := "550 5.7.10 mx.down.test[192.0.2.1]:25" + RequireTLSMark + "no verified TLS"
	m := msg(s, "a@example.org", "x@down.test")
	m.State, m.Arrived, m.NextAttempt, m.Attempts, m.RequireTLS = Ready, t0.Add(-59*time.Minute), t0, 3, true
	m.Rcpts[0].Queue, m.Rcpts[0].LastReply = "mx:down.test", HeldReply("mx:down.test")
	m.Rcpts[0].HopReply, m.Rcpts[0].HopHost = tlsReply, "mx.down.test[192.0.2.1]:25"
	m.LastError = m.Rcpts[0].LastReply
	if err := s.Update(ctx, func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	q.Start(ctx)
	waitFor(t, "the attempt's expiry", func() bool { return ev.has("fail: ") })
	ev.mu.Lock()
	defer ev.mu.Unlock()
	for _, e := range ev.out {
		if reply, ok := strings.CutPrefix(e, "fail: "); ok && (!strings.HasPrefix(reply, "550 5.4.7 ") || !strings.Contains(reply, "connection refused")) {
			t.Errorf("the expiry after the hold ended: %q, want 550 5.4.7 quoting the attempt's reply", reply)
		}
	}
}
