package queue

import (
	"context"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// A retry that falls inside a dead destination's cool-down is answered
// without a connection: that is no delivery attempt. It spends no step
// of the retry schedule, and the message follows the destination's
// revival — due when the cool-down ends and its probe goes — instead of
// waiting the next, longer step with the next hop healthy again. The
// clock moves only to the end of the cool-down: an hour's step would
// never come round.
func TestDeadDestinationDeferralSpendsNoRetryStep(t *testing.T) {
	s := openTest(t)
	t0 := time.Unix(1_700_000_000, 0)
	clk := clock.NewFake(t0)
	p := newPlanned()
	p.refuse["down.test"] = true
	q := NewManager(s, p, ManagerConfig{MaxActive: 100, Clock: clk,
		RetrySchedule: []time.Duration{10 * time.Second, time.Hour},
		Scheduler:     SchedulerConfig{InitialWindow: 1, DeadCoolDown: time.Minute}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { close(p.stop); cancel(); q.Wait() }()
	q.Start(ctx)
	m := msg(s, "a@example.org", "x@down.test")
	m.Arrived = clk.Now()
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	committed := func(what string, cond func(got *Message) bool) *Message {
		var got *Message
		waitFor(t, what, func() bool {
			got, _ = q.Message(m.ID)
			return got != nil && got.State == Ready && cond(got)
		})
		return got
	}
	// One refused connection: the destination (window 1) is dead for a
	// minute; the message waits its first step.
	committed("the refused attempt", func(got *Message) bool { return got.Attempts == 1 })
	// Its retry falls inside the cool-down.
	clk.Advance(15 * time.Second)
	q.Kick()
	got := committed("the deferral inside the cool-down", func(got *Message) bool {
		return strings.Contains(got.Rcpts[0].LastReply, "is dead")
	})
	if n := p.count(p.calls, "down.test"); n != 1 {
		t.Fatalf("%d connections, want 1: a dead destination gets none", n)
	}
	if got.Attempts != 1 {
		t.Errorf("attempts %d after a deferral without a connection, want 1", got.Attempts)
	}
	if st := DisplayState(got, clk.Now()); st != "retry" {
		t.Errorf("listed %s, want retry: it waits after a deferral", st)
	}
	if end := t0.Add(time.Minute); got.NextAttempt.After(end) {
		t.Errorf("due %s after the cool-down's end, want at its end", got.NextAttempt.Sub(end))
	}
	// The next hop is back; the cool-down ends and the probe goes.
	p.mu.Lock()
	p.refuse["down.test"] = false
	p.mu.Unlock()
	clk.Advance(t0.Add(time.Minute).Sub(clk.Now()))
	q.Kick()
	waitFor(t, "the message sent when the cool-down ended", func() bool { return len(messages(t, s)) == 0 })
}
