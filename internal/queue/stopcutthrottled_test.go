package queue

import (
	"context"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SMTP-1 (DSN): a recipient whose attempt the stop cut is left with
// Attempts 0 (a cut attempt is no attempt) and, due again after the
// restart with its destination busy, the bare throttle note: whether it
// was tried is not known, so its DSN never says "not attempted".
func TestStopCutThenThrottledDSNNotCalledUnattempted(t *testing.T) {
	m := &Message{From: "a@example.org", Attempts: 0, // the cut attempt counted none
		Rcpts: []Recipient{{Addr: "x@example.net", Status: Pending, LastReply: stopReply, NextHop: "mx.example.net[192.0.2.1]:25"}}}
	rc := m.Rcpts[0]
	if got := notAttempted(m, rc, NotifyDelay, Inside{}); strings.Contains(got, "not attempted") {
		t.Fatalf("right after the cut: %q", got)
	}
	// The retry after the restart is throttled (outcome throttled).
	rc.LastReply = throttledReply(rc)
	m.Rcpts[0] = rc
	for _, kind := range []Notify{NotifyDelay, NotifyFailure} {
		if got := notAttempted(m, rc, kind, Inside{}); strings.Contains(got, "not attempted") {
			t.Errorf("kind %v: a recipient whose attempt the stop cut, now waiting for a slot: %q", kind, got)
		}
	}
	exp := m.Rcpts[0]
	exp.LastReply = expiredReply("550 5.4.7", 0, realReply(exp.LastReply)) // its expiry while it waits
	if got := notAttempted(m, exp, NotifyFailure, Inside{}); strings.Contains(got, "not attempted") {
		t.Errorf("at its expiry: %q", got)
	}
}

// cutAll is a next hop the server's stop cuts, for every message.
type cutAll struct{ started chan ID }

func (d cutAll) Deliver(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
	d.started <- m.ID
	<-ctx.Done()
	var out []Result
	for _, i := range rcpts {
		out = append(out, Result{Rcpt: i, Outcome: Deferred, Queue: "mx:x.example", NextHop: "mx.x.example",
			Reply: "451 4.4.1 connect to mx.x.example: dial tcp 192.0.2.1:25: operation was canceled"})
	}
	return out
}

// The same end to end: two messages' attempts are cut by a stop. At the
// next start both are due at once; the first takes the only slot
// (max_active 1: a restart with a backlog) and its next hop hangs; the
// second is throttled and its delay notice goes.
func TestStopCutAttemptWaitingDelayDSN(t *testing.T) {
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	d := cutAll{started: make(chan ID, 2)}
	q1 := NewManager(s, d, ManagerConfig{MaxActive: 100, Clock: clk, Hostname: "mx.test", Inside: Inside{SenderDomains: []string{"example.org"}},
		RetrySchedule: []time.Duration{5 * time.Second}, MessageExpiration: 60 * time.Second, DelayNotification: 10 * time.Second})
	ctx1, cancel1 := context.WithCancel(context.Background())
	q1.Start(ctx1)
	m1 := msg(s, "a@example.org", "first@hung.test")
	m1.Arrived = t0
	if err := q1.Submit(ctx1, m1, []byte(body)); err != nil {
		t.Fatal(err)
	}
	<-d.started
	m2 := msg(s, "c@example.org", "z@hung.test")
	m2.Arrived = t0
	if err := q1.Submit(ctx1, m2, []byte(body)); err != nil {
		t.Fatal(err)
	}
	<-d.started
	cancel1()
	q1.Wait()
	for _, m := range messages(t, s) {
		if m.ID == m2.ID && (m.Attempts != 0 || m.Rcpts[0].LastReply != stopReply) {
			t.Fatalf("after the cut: attempts %d, reply %q", m.Attempts, m.Rcpts[0].LastReply)
		}
	}

	hung, open := hangingHop(t)
	h := &windowHops{
		smtpHops: &smtpHops{addrs: map[string]string{"hung.test": hung}, done: map[string]int{}},
		max:      map[string]int{"hung.test": 1},
	}
	q := NewManager(s, h, ManagerConfig{MaxActive: 1, Clock: clk, DelayNotification: time.Minute, MessageExpiration: 5 * time.Minute,
		Scheduler: SchedulerConfig{InitialWindow: 5, ThrottleRecheck: 10 * time.Second}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	waitFor(t, "the hung next hop holding its window of 1", func() bool { return open.Load() >= 1 })
	dsnTo := func(kind string) *Message {
		for _, m := range messages(t, s) {
			if m.Connector == "dsn" && m.Rcpts[0].Addr == "c@example.org" {
				if b, err := q.Body(m.ID); err == nil && strings.Contains(string(b), "Action: "+kind) {
					return m
				}
			}
		}
		return nil
	}
	var delay *Message
	for i := 0; i < 80 && delay == nil; i++ {
		clk.Advance(5 * time.Second)
		q.Kick()
		time.Sleep(20 * time.Millisecond)
		delay = dsnTo("delayed")
	}
	if delay == nil {
		for _, m := range messages(t, s) {
			t.Logf("%s %v att=%d notified=%v reply=%q", m.Rcpts[0].Addr, m.State, m.Attempts, m.DelayNotified, m.Rcpts[0].LastReply)
		}
		t.Fatal("no delay DSN")
	}
	b, _ := q.Body(delay.ID)
	text := string(b)
	if strings.Contains(text, "not attempted") {
		i := strings.Index(text, "Final-Recipient")
		t.Errorf("delay DSN says a recipient whose attempt the stop cut was not attempted:\n%s", text[:min(len(text), i+700)])
	}
}
