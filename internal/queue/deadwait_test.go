package queue

import (
	"context"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// Mail that meets a dead destination is answered without a connection:
// that is no delivery attempt. It spends no step of the retry schedule,
// and the message follows the destination's revival — due when the
// cool-down ends and its probe goes — instead of waiting the next,
// longer step with the next hop healthy again. The message whose failure
// made the destination dead is not that probe (rt32d F2): its retry,
// inside the cool-down, is moved to a second after its end, behind the
// mail the cool-down held. The clock moves only to the end of the
// cool-down: an hour's step would never come round.
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
	killer := msg(s, "a@example.org", "x@down.test")
	killer.Arrived = clk.Now()
	if err := q.Submit(ctx, killer, []byte(body)); err != nil {
		t.Fatal(err)
	}
	committed := func(id ID, what string, cond func(got *Message) bool) *Message {
		var got *Message
		waitFor(t, what, func() bool {
			got, _ = q.Message(id)
			return got != nil && got.State == Ready && cond(got)
		})
		return got
	}
	// One refused connection: the destination (window 1) is dead for a
	// minute; the message that failed waits past the cool-down's end.
	got := committed(killer.ID, "the refused attempt", func(got *Message) bool { return got.Attempts == 1 })
	if want := t0.Add(time.Minute + time.Second); !got.NextAttempt.Equal(want) {
		t.Errorf("the failed message is due %v, want a second after the cool-down's end %v", got.NextAttempt.Sub(t0), want.Sub(t0))
	}
	// Mail arriving inside the cool-down.
	clk.Advance(15 * time.Second)
	m := msg(s, "a@example.org", "y@down.test")
	m.Arrived = clk.Now()
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	got = committed(m.ID, "the deferral inside the cool-down", func(got *Message) bool {
		return strings.Contains(got.Rcpts[0].LastReply, "is dead")
	})
	if n := p.count(p.calls, "down.test"); n != 1 {
		t.Fatalf("%d connections, want 1: a dead destination gets none", n)
	}
	if got.Attempts != 0 {
		t.Errorf("attempts %d after a deferral without a connection, want 0", got.Attempts)
	}
	if st := DisplayState(got, clk.Now()); st != "retry" {
		t.Errorf("listed %s, want retry: it waits after a deferral", st)
	}
	if end := t0.Add(time.Minute); got.NextAttempt.After(end) {
		t.Errorf("due %s after the cool-down's end, want at its end", got.NextAttempt.Sub(end))
	}
	// The next hop is back; the cool-down ends and the probe goes: the
	// mail the cool-down held, then the message that failed.
	p.mu.Lock()
	p.refuse["down.test"] = false
	p.mu.Unlock()
	clk.Advance(t0.Add(time.Minute).Sub(clk.Now()))
	q.Kick()
	waitFor(t, "the held message sent when the cool-down ended", func() bool { got, _ := q.Message(m.ID); return got == nil })
	if got, _ := q.Message(killer.ID); got == nil {
		t.Errorf("the message whose failure made the destination dead was the probe")
	}
	clk.Advance(time.Second)
	q.Kick()
	waitFor(t, "the failed message sent a second later", func() bool { return len(messages(t, s)) == 0 })
}

// An operator's retry is never a scheduled attempt, also when it is the
// message's first real attempt: mail that arrived while its destination
// was dead (deferred without a connection, no attempt counted) and is
// then retried by the operator — message retry, queue retry, flush,
// message resume — keeps no attempt counted and is due no later than
// before the retry (rt38 F2); its first scheduled attempt waits the
// first step, as the README's retry and flush promise.
func TestOperatorRetryAsFirstAttemptUsesNoStep(t *testing.T) {
	s := openTest(t)
	t0 := time.Unix(1_700_000_000, 0)
	clk := clock.NewFake(t0)
	p := newPlanned()
	p.refuse["down.test"] = true
	q := NewManager(s, p, ManagerConfig{MaxActive: 100, Clock: clk,
		RetrySchedule: []time.Duration{10 * time.Minute, time.Hour},
		Scheduler:     SchedulerConfig{InitialWindow: 1, DeadCoolDown: 5 * time.Minute}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { close(p.stop); cancel(); q.Wait() }()
	q.Start(ctx)
	first := msg(s, "a@example.org", "x@down.test")
	first.Arrived = clk.Now()
	if err := q.Submit(ctx, first, []byte(body)); err != nil {
		t.Fatal(err)
	}
	committed := func(id ID, what string, cond func(got *Message) bool) *Message {
		var got *Message
		waitFor(t, what, func() bool {
			got, _ = q.Message(id)
			return got != nil && got.State == Ready && cond(got)
		})
		return got
	}
	committed(first.ID, "the refused attempt", func(got *Message) bool { return got.Attempts == 1 })
	// Mail arriving now is deferred by the dead mark: no attempt.
	clk.Advance(time.Second)
	m := msg(s, "a@example.org", "y@down.test")
	m.Arrived = clk.Now()
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	committed(m.ID, "the deferral at receipt", func(got *Message) bool {
		return strings.Contains(got.Rcpts[0].LastReply, "is dead") && got.NextAttempt.After(clk.Now())
	})
	// The message that found the destination dead leaves: m is the
	// queue's only message, so each retry below attempts it.
	if err := q.RemoveMessage(ctx, first.ID, false); err != nil {
		t.Fatal(err)
	}
	for _, op := range []struct {
		name  string
		retry func() error
	}{
		{"message retry", func() error { return q.RetryMessage(ctx, m.ID) }},
		{"queue retry", func() error {
			cur, _ := q.Message(m.ID)
			n, err := q.RetryQueue(ctx, queueOf(&cur.Rcpts[0]))
			if err == nil && n != 1 {
				t.Errorf("queue retry of %s made %d messages due, want 1", queueOf(&cur.Rcpts[0]), n)
			}
			return err
		}},
		{"queue flush", func() error { _, err := q.Flush(ctx); return err }},
	} {
		clk.Advance(time.Second)
		calls := p.count(p.calls, "down.test")
		cur, _ := q.Message(m.ID)
		before := cur.NextAttempt
		if err := op.retry(); err != nil {
			t.Fatalf("%s: %v", op.name, err)
		}
		got := committed(m.ID, op.name+": its attempt committed", func(got *Message) bool {
			return p.count(p.calls, "down.test") > calls && !got.ManualRetry && got.NextAttempt.After(clk.Now())
		})
		if got.Attempts != 0 {
			t.Errorf("%s: attempts %d after the operator's retry, want 0: it is no scheduled attempt", op.name, got.Attempts)
		}
		if got.NextAttempt.After(before) {
			t.Errorf("%s: next attempt %s later than before the retry: a retry never makes it later (rt38 F2)", op.name, got.NextAttempt.Sub(before))
		}
		if st := DisplayState(got, clk.Now()); st != "retry" {
			t.Errorf("%s: listed %s, want retry: it waits after a failed attempt", op.name, st)
		}
	}
	// A message resumed after a suspension: the same — but a resume
	// ends no cool-down (rt17c F3): the destination the flush probed is
	// dead again, so the resumed message waits for the cool-down's end
	// without a connection, and its attempt then is the resume's.
	if err := q.SuspendMessage(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	calls := p.count(p.calls, "down.test")
	if err := q.ResumeMessage(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	got := committed(m.ID, "message resume: deferred by the dead mark", func(got *Message) bool {
		return got.NextAttempt.After(clk.Now()) && strings.Contains(got.Rcpts[0].LastReply, "is dead")
	})
	if n := p.count(p.calls, "down.test"); n != calls {
		t.Fatalf("message resume: %d connections to the dead destination, want none", n-calls)
	}
	// Due no later than before the resume (keepRetryNext): while the
	// cool-down lasts, each claim is deferred by the dead mark again.
	for k := 0; p.count(p.calls, "down.test") == calls; k++ {
		if k == 5 {
			t.Fatal("message resume: no attempt after five claims")
		}
		clk.Advance(got.NextAttempt.Sub(clk.Now()))
		q.Kick()
		got = committed(m.ID, "message resume: its claim committed", func(got *Message) bool { return got.NextAttempt.After(clk.Now()) })
	}
	if got.Attempts != 0 || got.NextAttempt.Sub(clk.Now()) != 10*time.Minute {
		t.Errorf("message resume: attempts %d, next in %s; want 0, 10m0s", got.Attempts, got.NextAttempt.Sub(clk.Now()))
	}
	// The first scheduled attempt is the first counted, and waits the
	// first step; the second waits the second.
	for n, step := range []time.Duration{10 * time.Minute, time.Hour} {
		clk.Advance(got.NextAttempt.Sub(clk.Now()))
		q.Kick()
		got = committed(m.ID, "the scheduled attempt", func(got *Message) bool { return got.Attempts == n+1 && got.NextAttempt.After(clk.Now()) })
		if wait := got.NextAttempt.Sub(clk.Now()); wait != step {
			t.Errorf("after scheduled attempt %d: next in %s, want %s", n+1, wait, step)
		}
	}
}
