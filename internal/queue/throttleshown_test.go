package queue

import (
	"context"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// OPS-2 (rt27d F4): mail a busy destination turned away (its
// share of a crowded active set full: max_active 4, a next hop that
// never answers) is shown where and why it waits — in the destination's
// queue, not the submission queue; "retry" with the throttle's note as
// its last error and its recheck as the next time, not "ready" (due
// now) with none — alike in message list and show (StateView, the
// record), message list --queue, queue list and the gauges' counts
// (Queues).
func TestThrottledMailShownInItsDestinationsQueue(t *testing.T) {
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	p := newPlanned()
	p.stall["slow.test"] = true
	q := NewManager(s, p, ManagerConfig{MaxActive: 4, Clock: clk, RetrySchedule: []time.Duration{time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { close(p.stop); cancel(); q.Wait() }()
	q.Start(ctx)
	var ids []ID
	for range 7 {
		m := msg(s, "a@example.org", "x@slow.test")
		m.Arrived = t0
		if err := q.Submit(ctx, m, []byte(body)); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	throttledNow := func() []*Message {
		var out []*Message
		for _, id := range ids {
			if m, _ := q.Message(id); m != nil && m.State == Ready && isThrottleReply(m.Rcpts[0].LastReply) {
				out = append(out, m)
			}
		}
		return out
	}
	waitFor(t, "mail turned away by its busy destination, the rest in delivery", func() bool {
		active := 0
		for _, id := range ids {
			if m, _ := q.Message(id); m != nil && m.State == Active {
				active++
			}
		}
		return len(throttledNow()) >= 3 && active+len(throttledNow()) == len(ids)
	})
	sv := q.StateView()
	for _, m := range throttledNow() {
		if got := RecipientQueue(&m.Rcpts[0]); got != "mx:slow.test" {
			t.Errorf("%s: recipient listed in queue %q, want its destination's mx:slow.test", m.ID, got)
		}
		if got := sv.State(m); got != "retry" {
			t.Errorf("%s: state %q (next %v, now %v), want retry: it is not due now", m.ID, got, m.NextAttempt, clk.Now())
		}
		if !m.NextAttempt.After(clk.Now()) {
			t.Errorf("%s: next attempt %v, not its recheck", m.ID, m.NextAttempt)
		}
		if !isThrottleReply(CurrentError(m)) {
			t.Errorf("%s: last error %q, want the throttle's note", m.ID, CurrentError(m))
		}
	}
	// A message just claimed is Active before its job is queued: the
	// destinations' count is looked at until that job is in.
	waitFor(t, "queue destinations counting every message for it (those turned away as waiting)", func() bool {
		for _, di := range q.Destinations() {
			if di.Queue == "mx:slow.test" {
				return di.Running+di.Waiting == len(ids)
			}
		}
		return false
	})
	listed, err := q.Messages(MessageFilter{Queue: "mx:slow.test"})
	if err != nil {
		t.Fatal(err)
	}
	if len(listed) < len(throttledNow()) {
		t.Errorf("message list --queue mx:slow.test: %d messages, fewer than the %d turned away", len(listed), len(throttledNow()))
	}
	qs, err := q.Queues()
	if err != nil {
		t.Fatal(err)
	}
	for _, qi := range qs {
		switch qi.Name {
		case QueueSubmission:
			// A first attempt's running job is listed here until its
			// results name its queue (attemptsOn); the mail turned
			// away is not.
			if n := qi.ByState["ready"] + qi.ByState["retry"]; n > 0 {
				t.Errorf("queue list: submission holds %d waiting (%v), want none: they wait for mx:slow.test", n, qi.ByState)
			}
		case "mx:slow.test":
			if qi.ByState["retry"] < 3 || qi.ByState["ready"] > 0 {
				t.Errorf("queue list: mx:slow.test %d %v, want the 3 or more turned away as retry, none ready", qi.Count, qi.ByState)
			}
		}
	}
}

// The sibling (rt27d F4): once the destination is dead, new mail for it
// is not turned away as busy while its hung jobs still hold its share
// of a crowded active set — it reads the dead mark (alone: the last
// error was another session's),
// due when the cool-down ends, as the README promises.
func TestDeadDestinationMailNotShownBusy(t *testing.T) {
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	p := newPlanned()
	p.stall["slow.test"] = true
	q := NewManager(s, p, ManagerConfig{MaxActive: 3, Clock: clk, RetrySchedule: []time.Duration{time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { close(p.stop); cancel(); q.Wait() }()
	q.Start(ctx)
	for range 2 { // its window (2), the share max_active 3 gives it: two hung jobs
		m := msg(s, "a@example.org", "x@slow.test")
		m.Arrived = t0
		if err := q.Submit(ctx, m, []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "two hung jobs", func() bool { return p.count(p.calls, "slow.test") == 2 })
	// The destination dies (its cool-down) while its hung jobs still
	// hold its share.
	until := clk.Now().Add(5 * time.Minute)
	q.sched.mu.Lock()
	for _, d := range q.sched.dests {
		if d.queue == "mx:slow.test" {
			d.deadUntil, d.lastErr, d.lastHop = until, "451 4.4.2 mx.slow.test[192.0.2.9]:25: i/o timeout", "mx.slow.test[192.0.2.9]:25"
		}
	}
	q.sched.mu.Unlock()
	m := msg(s, "a@example.org", "y@slow.test")
	m.Arrived = t0
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new message answered", func() bool {
		got, _ := q.Message(m.ID)
		return got != nil && got.State == Ready && got.Rcpts[0].LastReply != ""
	})
	got, _ := q.Message(m.ID)
	if r := got.Rcpts[0].LastReply; !isDeadReply(r) || strings.Contains(r, "i/o timeout") {
		t.Errorf("new mail for a dead destination reads %q, want its dead mark alone (the last error was another session's: rt32d F1)", r)
	}
	if !got.NextAttempt.Equal(until) {
		t.Errorf("new mail for a dead destination is due %v, want the cool-down's end %v", got.NextAttempt, until)
	}
}
