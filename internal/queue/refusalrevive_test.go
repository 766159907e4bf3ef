package queue

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// deadDests is how many destinations are in their cool-down now.
func deadDests(q *Manager) int {
	s := q.sched
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, d := range s.dests {
		if d.dead(q.clk.Now()) {
			n++
		}
	}
	return n
}

// deadSetup is a manager whose one message was refused by down.test,
// now dead, the message waiting for its retry.
func deadSetup(t *testing.T) (*Manager, *Message, context.Context) {
	s := openTest(t)
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	p := newPlanned()
	p.refuse["down.test"] = true
	q := NewManager(s, p, ManagerConfig{MaxActive: 100, Clock: clk,
		RetrySchedule: []time.Duration{10 * time.Minute, time.Hour},
		Scheduler:     SchedulerConfig{InitialWindow: 1, DeadCoolDown: 5 * time.Minute}})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { close(p.stop); cancel(); q.Wait() })
	q.Start(ctx)
	m := msg(s, "a@example.org", "x@down.test")
	m.Arrived = clk.Now()
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the refused attempt", func() bool {
		got, _ := q.Message(m.ID)
		return got != nil && got.State == Ready && got.Attempts == 1
	})
	waitFor(t, "the destination dead", func() bool { return deadDests(q) == 1 })
	return q, m, ctx
}

// rt18e-F3: a retry refused changes nothing, the dead destinations'
// cool-downs included (a retry revives only when it retries).
func TestRefusedRetryRevivesNothing(t *testing.T) {
	q, m, ctx := deadSetup(t)
	if err := q.SuspendMessage(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	err := q.RetryMessage(ctx, m.ID)
	if err == nil {
		t.Fatal("retry of a suspended message went through")
	}
	if strings.Contains(err.Error(), "revived") || deadDests(q) != 1 {
		t.Fatalf("the refused retry ended the cool-down: %v (dead now: %d)", err, deadDests(q))
	}
	if err := q.SuspendQueue(ctx, "mx:down.test"); err != nil {
		t.Fatal(err)
	}
	if _, err := q.RetryQueue(ctx, "mx:down.test"); err == nil || deadDests(q) != 1 {
		t.Fatalf("queue retry of a suspended queue: %v, dead now %d", err, deadDests(q))
	}
}

// rt18e-F4: resume of a queue that is not suspended releases nothing
// and changes nothing.
func TestResumeOfQueueNotSuspendedChangesNothing(t *testing.T) {
	q, m, ctx := deadSetup(t)
	before, _ := q.Message(m.ID)
	n, err := q.ResumeQueue(ctx, "mx:down.test")
	if err == nil || !errors.Is(err, ErrNotApplicable) || !strings.Contains(err.Error(), "mx:down.test is not suspended: nothing to release") {
		t.Fatalf("resume of a queue not suspended: %d, %v", n, err)
	}
	after, _ := q.Message(m.ID)
	if !after.NextAttempt.Equal(before.NextAttempt) || after.ManualRetry != before.ManualRetry {
		t.Fatalf("next attempt %v → %v", before.NextAttempt, after.NextAttempt)
	}
}
