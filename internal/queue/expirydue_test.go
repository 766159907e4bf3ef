package queue

import (
	"context"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// Q-3 (rt23d F1): the delay notice and the expiry fall due on their own
// time, not at the next retry step's commit; and no attempt starts at
// or after the expiry, so a message is never delivered after the
// Will-Retry-Until its delay DSN gave. retry_schedule [40s],
// delay_notification 5s, message_expiration 60s: the delay DSN goes at
// 5 s, the expiry DSN at 60 s, and the next hop is not contacted at 60 s.
func TestDelayNoticeAndExpiryFallDueBetweenRetrySteps(t *testing.T) {
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	d := newScripted(func(addr string, n int) (Outcome, string) {
		if addr == "w@example.net" {
			return Deferred, "451 4.3.0 try later"
		}
		return RelayedOK, "250 ok"
	})
	q := NewManager(s, d, ManagerConfig{Hostname: "mx.test", Clock: clk,
		RetrySchedule: []time.Duration{40 * time.Second}, MessageExpiration: 60 * time.Second,
		DelayNotification: 5 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)

	m := msg(s, "sender@example.org", "w@example.net")
	m.Arrived = t0
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	d.wait(t)
	waitFor(t, "first results", func() bool { ms := messages(t, s); return len(ms) == 1 && ms[0].State == Ready })
	if got := messages(t, s)[0].NextAttempt; got.After(t0.Add(5 * time.Second)) {
		t.Errorf("next attempt at %v after arrival, want at most the delay notice's 5s", got.Sub(t0))
	}
	sent := func() int { d.mu.Lock(); defer d.mu.Unlock(); return d.attempts["sender@example.org"] }
	wAttempts := func() int { d.mu.Lock(); defer d.mu.Unlock(); return d.attempts["w@example.net"] }

	clk.Advance(5 * time.Second)
	waitFor(t, "the delay DSN at 5s", func() bool { return sent() == 1 })
	d.mu.Lock()
	delay := d.seen[len(d.seen)-1].Helo
	d.mu.Unlock()
	if !strings.Contains(delay, "Action: delayed") {
		t.Errorf("first DSN is not the delay notice:\n%s", delay)
	}
	waitFor(t, "the record after the notice", func() bool {
		ms := messages(t, s)
		return len(ms) == 1 && ms[0].State == Ready && ms[0].DelayNotified
	})
	if got := messages(t, s)[0].NextAttempt; got.After(t0.Add(60 * time.Second)) {
		t.Errorf("next attempt at %v after arrival, want at most the expiry's 60s", got.Sub(t0))
	}
	before := wAttempts()

	clk.Advance(55 * time.Second) // t0 + 60s: the expiry
	waitFor(t, "the expiry", func() bool { return len(messages(t, s)) == 0 })
	waitFor(t, "the expiry DSN", func() bool { return sent() == 2 })
	d.mu.Lock()
	last := d.seen[len(d.seen)-1].Helo
	d.mu.Unlock()
	if !strings.Contains(last, "Status: 5.4.7") || !strings.Contains(last, "550 5.4.7 message expired after") ||
		!strings.Contains(last, "last reply: 451 4.3.0") {
		t.Errorf("expiry DSN:\n%s", last)
	}
	if n := wAttempts(); n != before {
		t.Errorf("the next hop was contacted %d more times at the expiry, want none", n-before)
	}
}
