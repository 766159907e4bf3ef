package queue

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// busyHost plans every recipient to one destination whose host answers
// each session with a remote 4.4.2 reply: a failed cohort, so the
// destination goes dead.
type busyHost struct {
	mu    sync.Mutex
	calls int
}

const busyReply = "451 4.4.2 mx.busy.test is too busy, closing"

func (b *busyHost) Plan(_ context.Context, m *Message, rcpts []int) []Job {
	return []Job{{Dest: "mx/busy.test", Queue: "mx:busy.test", Max: 1, Rcpts: rcpts}}
}

func (b *busyHost) Deliver(_ context.Context, m *Message, _ []byte, rcpts []int) []Result {
	b.mu.Lock()
	b.calls++
	b.mu.Unlock()
	out := make([]Result, len(rcpts))
	for k, i := range rcpts {
		out[k] = Result{Rcpt: i, Outcome: Deferred, Queue: "mx:busy.test", NextHop: "mx.busy.test[192.0.2.7]:25", Reply: busyReply}
	}
	return out
}

// A delay DSN made while the destination is in its dead cool-down (the
// attempt that crossed delay_notification made no connection) is made
// as any: the original's headers returned, and the last real reply of
// the remote host reported — Remote-MTA and a Diagnostic-Code of type
// smtp — never umbra's "destination … is dead" text. For a message
// that was attempted before (its own last reply); one that arrived
// while the destination was dead reports no host's reply — the one that
// made the destination dead was another message's (rt32d F1) — and a
// message past its expiry, never tried, fails without a job, "no host
// had replied by the expiry".
// RFC 3464 §2.3.5, §2.3.6. Seen to fail first: no headers, the dead
// text as X-Umbra diagnostic.
func TestDelayDSNDuringDeadCoolDownReportsRealReply(t *testing.T) {
	s := openTest(t)
	t0 := time.Unix(1_700_000_000, 0)
	clk := clock.NewFake(t0)
	h := &busyHost{}
	q := NewManager(s, h, ManagerConfig{MaxActive: 100, Clock: clk, DelayNotification: time.Minute, MessageExpiration: 5 * time.Minute,
		RetrySchedule: []time.Duration{10 * time.Second, time.Hour},
		Scheduler:     SchedulerConfig{InitialWindow: 1, DeadCoolDown: time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	tried := msg(s, "a@example.org", "x@busy.test")
	tried.Arrived = clk.Now()
	if err := q.Submit(ctx, tried, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first attempt", func() bool {
		got, _ := q.Message(tried.ID)
		return got != nil && got.State == Ready && got.Attempts == 1
	})
	// Dead now. Mail arriving meets the dead mark: never attempted; it
	// arrived elsewhere two minutes ago (past delay_notification).
	late := msg(s, "b@example.org", "y@busy.test")
	late.Arrived = clk.Now().Add(-2 * time.Minute)
	if err := q.Submit(ctx, late, []byte(body)); err != nil {
		t.Fatal(err)
	}
	// Past delay_notification and the first step, still dead: the
	// retry is answered without a connection, with its delay DSN.
	clk.Advance(2 * time.Minute)
	q.Kick()
	var dsns []*Message
	waitFor(t, "two delay DSNs", func() bool {
		dsns = dsns[:0]
		for _, m := range messages(t, s) {
			if m.Connector == "dsn" {
				dsns = append(dsns, m)
			}
		}
		return len(dsns) == 2
	})
	// A message that expires while the destination is dead: its failure
	// DSN reports the host's reply too (its code is umbra's 5.4.7).
	old := msg(s, "c@example.org", "z@busy.test")
	old.Arrived = clk.Now().Add(-10 * time.Minute)
	if err := q.Submit(ctx, old, []byte(body)); err != nil {
		t.Fatal(err)
	}
	var failure *Message
	waitFor(t, "the failure DSN", func() bool {
		for _, m := range messages(t, s) {
			if m.Connector == "dsn" && m.Rcpts[0].Addr == "c@example.org" {
				failure = m
			}
		}
		return failure != nil
	})
	b, err := q.Body(failure.ID)
	if err != nil {
		t.Fatal(err)
	}
	// It was never tried: its expiry fails it without a job, and its DSN
	// quotes no host (rt32d F1: the reply that made the destination
	// dead was another message's session).
	for _, want := range []string{"Subject: hi", "Status: 5.4.7", "had replied by the expiry"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("failure DSN lacks %q:\n%s", want, b)
		}
	}
	for _, not := range []string{"is dead", busyReply, "Remote-MTA"} {
		if strings.Contains(string(b), not) {
			t.Errorf("failure DSN of a message never tried has %q:\n%s", not, b)
		}
	}
	if h.calls != 1 {
		t.Fatalf("%d connections, want 1: the dead destination gets none", h.calls)
	}
	for _, d := range dsns {
		b, err := q.Body(d.ID)
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		if strings.Contains(text, "is dead") {
			t.Errorf("DSN %s reports the dead mark:\n%s", d.ID, text)
		}
		if d.Rcpts[0].Addr == "b@example.org" {
			// late: no host ever replied to it.
			if !strings.Contains(text, "Subject: hi") || !strings.Contains(text, "failed to answer") ||
				strings.Contains(text, busyReply) || strings.Contains(text, "Remote-MTA") {
				t.Errorf("DSN %s of a message no host replied to, want its destination's state in words and no host's reply:\n%s", d.ID, text)
			}
			continue
		}
		for _, want := range []string{"Subject: hi", "Remote-MTA: dns; mx.busy.test", "Diagnostic-Code: smtp; " + busyReply} {
			if !strings.Contains(text, want) {
				t.Errorf("DSN %s lacks %q:\n%s", d.ID, want, text)
			}
		}
	}
}
