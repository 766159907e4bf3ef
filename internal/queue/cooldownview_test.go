package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// rt21c L6: mail behind a dead destination is due when the cool-down
// ends, not at its own next attempt, which a short retry step puts
// before it: the views say so — the queue's NEXT RETRY (Queues) and a
// message's next attempt (StateView.Due) are never before the cool-down's
// end while every destination of the queue is dead.
func TestViewsShowTheCoolDownsEnd(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	p := newPlanned()
	p.refuse["down.test"] = true
	q := NewManager(s, p, ManagerConfig{MaxActive: 100, Clock: clk, RetrySchedule: []time.Duration{20 * time.Second},
		Scheduler: SchedulerConfig{InitialWindow: 2, DeadCoolDown: 10 * time.Minute}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { close(p.stop); cancel(); q.Wait() }()
	for range 4 {
		m := msg(s, "a@example.org", "x@down.test")
		m.Arrived = clk.Now()
		if err := s.Update(ctx, func(tx *Tx) error { m.State, m.NextAttempt = Ready, clk.Now(); return tx.PutNew(m, []byte(body)) }); err != nil {
			t.Fatal(err)
		}
	}
	q.Start(ctx)
	waitFor(t, "all four answers committed", func() bool {
		n := 0
		for _, m := range messages(t, s) {
			if m.State == Ready && m.Rcpts[0].LastReply != "" {
				n++
			}
		}
		return n == 4
	})
	var until time.Time
	for _, d := range q.Destinations() {
		if d.Name == "mx/down.test" && d.State == "dead" {
			until = d.DeadUntil
		}
	}
	if until.IsZero() {
		t.Fatal("the destination is not dead")
	}
	sv := q.StateView()
	early := 0
	for _, m := range messages(t, s) {
		if m.NextAttempt.Before(until) {
			early++ // the two the cohort tried: their retry step is 20 s
		}
		if due := sv.Due(m); due.Before(until) {
			t.Errorf("message %s (next attempt %s) shown due at %s, before the cool-down ends at %s", m.ID, m.NextAttempt, due, until)
		}
	}
	if early == 0 {
		t.Fatal("no message's own next attempt is before the cool-down's end: the test shows nothing")
	}
	qs, err := q.Queues()
	if err != nil {
		t.Fatal(err)
	}
	for _, qi := range qs {
		if qi.Name == "mx:down.test" && qi.NextRetry.Before(until) {
			t.Errorf("queue %s: next retry %s, before the cool-down ends at %s", qi.Name, qi.NextRetry, until)
		}
	}
}
