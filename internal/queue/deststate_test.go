package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// destination finds the scheduler's row of destination name.
func destination(q *Manager, name string) (DestinationInfo, bool) {
	for _, d := range q.Destinations() {
		if d.Name == name {
			return d, true
		}
	}
	return DestinationInfo{}, false
}

// OPS-3, Q-3, Q-6 (sched24): a destination with failures in a row whose
// mail waits for its retry is not "idle": queue destinations (and the
// API, the console and the metrics, which read the same rows) say
// "failing", with the count and when its mail is tried next; a
// destination whose queue the operator suspended says "suspended"; a
// success makes it idle again.
func TestDestinationsShowFailingAndSuspended(t *testing.T) {
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	p := newPlanned()
	p.refuse["down.test"] = true
	q := NewManager(s, p, ManagerConfig{Hostname: "mx.test", Clock: clk,
		RetrySchedule: []time.Duration{10 * time.Minute}, Scheduler: SchedulerConfig{InitialWindow: 2}})
	p.suspended = q.IsSuspended
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { close(p.stop); cancel(); q.Wait() }()
	q.Start(ctx)
	m := msg(s, "a@example.org", "x@down.test")
	m.Arrived = t0
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	var next time.Time
	waitFor(t, "the refused attempt", func() bool {
		got, _ := q.Message(m.ID)
		if got != nil && got.State == Ready && got.Attempts == 1 {
			next = got.NextAttempt
			return true
		}
		return false
	})
	// The row learns the retry once the attempt's results are
	// committed (complete, after finish): a moment after the record.
	var d DestinationInfo
	waitFor(t, "the destination's next try", func() bool {
		d, _ = destination(q, "mx/down.test")
		return !d.NextTry.IsZero()
	})
	if d.State != "failing" || d.Failures != 1 || !d.NextTry.Equal(next) || !d.DeadUntil.IsZero() {
		t.Errorf("after one refused attempt: state %q, failures %d, next try %v (the message's retry %v), dead until %v; want failing, 1, its retry",
			d.State, d.Failures, d.NextTry, next, d.DeadUntil)
	}
	if err := q.SuspendQueue(ctx, "mx:down.test"); err != nil {
		t.Fatal(err)
	}
	if d, _ = destination(q, "mx/down.test"); d.State != "suspended" || !d.NextTry.IsZero() {
		t.Errorf("with its queue suspended: state %q, next try %v; want suspended, none", d.State, d.NextTry)
	}
	if _, err := q.ResumeQueue(ctx, "mx:down.test"); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.refuse["down.test"] = false
	p.mu.Unlock()
	waitFor(t, "the delivery after the resume", func() bool { return len(messages(t, s)) == 0 })
	if d, _ = destination(q, "mx/down.test"); d.State != "idle" || d.Failures != 0 || !d.NextTry.IsZero() {
		t.Errorf("after a delivery: state %q, failures %d, next try %v; want idle, 0, none", d.State, d.Failures, d.NextTry)
	}
}
