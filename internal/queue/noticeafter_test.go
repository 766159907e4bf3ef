package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// Q-3 (rr24 F3): the delay notice is made by the commit of the attempt
// made at its time, for the recipients that attempt leaves pending: mail
// it delivers gets no "delayed" DSN (Postfix and sendmail warn only
// after a deferral). sched24 had committed the notice on its own before
// that attempt, so a message delivered then still got one.
func TestDelayNoticeNotSentForMailTheAttemptThenDelivers(t *testing.T) {
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	p := newPlanned()
	p.refuse["down.test"] = true
	q := NewManager(s, p, ManagerConfig{Hostname: "mx.test", Clock: clk,
		RetrySchedule: []time.Duration{time.Hour}, MessageExpiration: 2 * time.Hour, DelayNotification: 5 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { close(p.stop); cancel(); q.Wait() }()
	q.Start(ctx)
	m := msg(s, "a@example.org", "x@down.test")
	m.Arrived = t0
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first deferral", func() bool {
		got, _ := q.Message(m.ID)
		return got != nil && got.State == Ready && got.Attempts == 1
	})
	p.mu.Lock()
	p.refuse["down.test"] = false
	p.mu.Unlock()
	clk.Advance(5 * time.Second) // the retry brought forward to the notice's time delivers
	waitFor(t, "the delivery committed", func() bool {
		got, _ := q.Message(m.ID)
		return got == nil
	})
	// The delivery's commit is the one that would have made the DSN: it
	// is in the store now if it was made at all.
	for _, got := range messages(t, s) {
		if got.Connector == "dsn" {
			t.Errorf("a DSN %s for mail delivered by the attempt made at the notice's time", got.ID)
		}
	}
	if n := p.count(p.done, "example.org"); n != 0 {
		t.Errorf("%d delay DSN(s) relayed for mail delivered by the attempt made at the notice's time", n)
	}
}
