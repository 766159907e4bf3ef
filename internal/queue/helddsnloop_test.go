package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// Q-3 (rr24 F4): the claim that finds a held message's delay notice due
// commits no attempt and makes the DSN; that commit may be set aside for
// the store's DeferLimit (deferResults), and it must not be on the
// scheduler's loop, which would claim nothing else meanwhile. A message
// due just after the held one is delivered while the held one's
// deferred commit waits (DeferLimit here outlasts waitFor's patience).
func TestHeldDSNCommitDoesNotHoldTheLoop(t *testing.T) {
	s, err := Open(t.TempDir()+"/queue.db", Options{DeferLimit: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	p := newPlanned()
	q := NewManager(s, p, ManagerConfig{Hostname: "mx.test", Clock: clk,
		RetrySchedule: []time.Duration{time.Hour}, MessageExpiration: 2 * time.Hour, DelayNotification: 5 * time.Second})
	p.suspended = q.IsSuspended
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { close(p.stop); cancel(); q.Wait() }()
	if err := q.SuspendQueue(ctx, "mx:down.test"); err != nil {
		t.Fatal(err)
	}
	held := msg(s, "a@example.org", "y@down.test")
	held.State, held.Arrived, held.NextAttempt, held.Attempts = Ready, t0, t0.Add(5*time.Second), 1
	held.Rcpts[0].Queue, held.Rcpts[0].NextHop = "mx:down.test", "mx.down.test[192.0.2.1]:25"
	held.Rcpts[0].LastReply = "451 4.4.1 connect to mx.down.test: connection refused"
	other := msg(s, "a@example.org", "z@up.test")
	other.State, other.Arrived, other.NextAttempt = Ready, t0, t0.Add(6*time.Second)
	for _, m := range []*Message{held, other} {
		if err := s.Update(ctx, func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
			t.Fatal(err)
		}
	}
	q.Start(ctx)
	clk.Advance(5 * time.Second) // the held message's notice falls due: its DSN's commit is deferred
	waitFor(t, "the held message claimed", func() bool {
		got, _ := q.Message(held.ID)
		return got != nil && (got.State == Active || got.DelayNotified)
	})
	clk.Advance(time.Second)
	waitFor(t, "the other message delivered while the held one's commit waits", func() bool {
		return p.count(p.done, "up.test") == 1
	})
	// Its commit waits for a writer that does not defer (the other
	// message's, when it comes after), a Flush, or DeferLimit (30 s
	// here, past waitFor's patience): a Flush — as a waiting shadow
	// server's query would — commits what is set aside at once, which
	// is all the store promises, so each look flushes first. What shows
	// the DSN was made must stay shown: the DSN, made, is claimed and
	// delivered at once (planned) and its record removed by the next
	// flush, so a look at the records alone could fall between two
	// flushes and never see it (the timeouts under load, sched26 item 4:
	// the DSN had been delivered). Its delivery to the sender's domain,
	// or its record while it waits, and the held message's notice in
	// its record are what is asked.
	waitFor(t, "the held message's delay DSN", func() bool {
		s.Flush()
		if p.count(p.done, "example.org") > 0 {
			return true
		}
		for _, m := range messages(t, s) {
			if m.Connector == "dsn" {
				return true
			}
		}
		return false
	})
	waitFor(t, "the held message's notice recorded", func() bool {
		s.Flush()
		for _, m := range messages(t, s) {
			if m.ID == held.ID {
				return m.DelayNotified
			}
		}
		return false
	})
}
