package queue

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// dsnTextLine is the line of a DSN's text part about addr.
func dsnTextLine(dsn, addr string) string {
	for _, l := range strings.Split(dsn, "\r\n") {
		if strings.HasPrefix(l, "<"+addr+">: ") {
			return l
		}
	}
	return ""
}

// Q-3 (rt31d F1): the delay DSN of a recipient whose first
// attempt hangs (the next hop accepts the connection and never greets)
// says in words why it is not delivered yet. It read "<rA@slow.test>: "
// with nothing after it and Status 4.0.0: no host had replied, and the
// DSN quoted the empty reply.
func TestQ3DelayNoticeOfHungFirstAttemptSaysWhy(t *testing.T) {
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	h := &hangsFrom{gate: make(chan struct{}), hang: true}
	q := NewManager(s, h, ManagerConfig{Hostname: "mx.test", Clock: clk,
		RetrySchedule: []time.Duration{4 * time.Second}, MessageExpiration: time.Hour,
		DelayNotification: 5 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { close(h.gate); cancel(); q.Wait() }()
	q.Start(ctx)
	for _, from := range []string{"sender@example.org", "outside@ext.example"} {
		m := msg(s, from, "rA@slow.test")
		m.Arrived = clk.Now()
		m.Rcpts[0].Queue = "mx:slow.test"
		if err := q.Submit(ctx, m, []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "both first attempts hang", func() bool { h.mu.Lock(); defer h.mu.Unlock(); return h.calls == 2 })
	clk.Advance(5 * time.Minute) // the notice fell due at 5 s; the sessions hang on
	waitFor(t, "the delay DSNs while the first attempts hang", func() bool { return h.dsnCount() == 2 })
	h.mu.Lock()
	dsns := append([]string(nil), h.dsns...)
	h.mu.Unlock()
	for _, dsn := range dsns {
		line := dsnTextLine(dsn, "rA@slow.test")
		reason := strings.TrimPrefix(line, "<rA@slow.test>: ")
		if line == "" || strings.TrimSpace(reason) == "" || !strings.Contains(reason, "first attempt") {
			t.Errorf("delay DSN's line for the hung first attempt %q: want the reason in words (its first attempt under way)\n%s", line, dsn)
		}
		if strings.Contains(dsn, "Diagnostic-Code") {
			t.Errorf("delay DSN of a recipient no host answered has a Diagnostic-Code:\n%s", dsn)
		}
	}
}

// Q-3 (rt31d F2): an expiry's DSN never invents a "last reply". A
// recipient no host answered — its job waiting for a slot of its
// destination when the stop came, or its only attempt ended by the
// expiry before any host answered — failed with "550 5.4.7 message
// expired after 2m8s; last reply: " (empty), to a sender outside the
// organisation "last reply: 451 4.0.0 delivery failed" (today "temporary
// failure") or "451 4.4.7
// delivery time expired", replies no host or step gave. It says "not
// delivered:" and why, in words, with no Diagnostic-Code, to every
// sender.
func TestQ3ExpiryDSNInventsNoLastReply(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 2, 8, 0, time.UTC)
	for _, last := range []string{"", ExpiredUnsentReply, "451 4.3.0 no result from delivery"} {
		for _, from := range []string{"alice@example.org", "bob@ext.example"} {
			m := &Message{ID: 0xABC, From: from, Arrived: at.Add(-128 * time.Second), Rcpts: []Recipient{{
				Addr: "rC@slow.test", Notify: NotifyFailure, Status: Failed, Queue: "smarthost:slow",
				LastReply: expiredReply("550 5.4.7", 128*time.Second, last)}}}
			in := Inside{SenderDomains: []string{"example.org"}}
			dsn := string(BuildDSNBody("mx.test", m, MemBody([]byte("Subject: x\r\n\r\nbody\r\n")), NotifyFailure, []int{0}, at, at, 0xDEF, 0, in))
			line := dsnTextLine(dsn, "rC@slow.test")
			if !strings.HasPrefix(line, "<rC@slow.test>: 550 5.4.7 message expired after 2m8s; not delivered: ") ||
				strings.HasSuffix(line, "not delivered: ") {
				t.Errorf("last %q, sender %s: text line %q; want 550 5.4.7 message expired after 2m8s; not delivered: REASON", last, from, line)
			}
			for _, bad := range []string{"last reply:", "Diagnostic-Code", "4.0.0 delivery failed", "4.0.0 temporary failure", "4.4.7 delivery time expired"} {
				if strings.Contains(dsn, bad) {
					t.Errorf("last %q, sender %s: DSN says %q, a reply no host gave:\n%s", last, from, bad, dsn)
				}
			}
		}
	}
}

// Q-3 (rt31d F2, rt32d F3): one expiry rule for every message, tried
// or not, whatever else its message holds. Recipients never tried that
// wait for their destination's slot past the expiry fail at the expiry
// with no job started — a message of one recipient as much as one whose
// other recipient was relayed while it waited — and their failure DSN
// says in words why ("not delivered: waiting for a delivery slot"),
// never "last reply: " with no reply at all.
func TestQ3NeverTriedRecipientFailsAtExpiryWhateverItsSiblings(t *testing.T) {
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	o := newSlotWait()
	q := NewManager(s, o, ManagerConfig{MaxActive: 100, Clock: clk, Hostname: "mx.test",
		RetrySchedule: []time.Duration{30 * time.Second}, MessageExpiration: 60 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	var open sync.Once
	release := func() { open.Do(func() { close(o.gate) }) }
	defer func() { release(); cancel(); q.Wait() }()
	q.Start(ctx)

	hung := msg(s, "a@example.org", "first@x.example")
	hung.Arrived = t0
	o.mu.Lock()
	o.hold = hung.ID
	o.mu.Unlock()
	if err := q.Submit(ctx, hung, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the hung session holding x.example's window", func() bool { got, _ := q.Message(hung.ID); return got != nil && got.State == Active })
	alone := msg(s, "a@example.org", "w1@x.example")
	alone.Arrived = t0
	both := msg(s, "a@example.org", "w2@x.example", "g@y.example")
	both.Arrived = t0
	for _, m := range []*Message{alone, both} {
		if err := q.Submit(ctx, m, []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "g@y.example relayed, the others waiting", func() bool {
		return o.delivered("g@y.example") == 1 && q.WaitingForWindow(alone.ID)
	})
	clk.Advance(2 * time.Minute) // past the expiry, never tried, no notice
	q.Kick()
	for _, addr := range []string{"w1@x.example", "w2@x.example"} {
		waitFor(t, "the failure DSN of "+addr, func() bool { return len(o.dsnsAbout(addr, "failed")) == 1 })
		dsn := o.dsnsAbout(addr, "failed")[0]
		if !strings.Contains(dsn, "; not delivered: waiting for a delivery slot") || strings.Contains(dsn, "last reply: ") {
			t.Errorf("failure DSN of never-tried %s, want no host's reply in words:\n%s", addr, dsn)
		}
		if n := o.delivered(addr); n != 0 {
			t.Errorf("never-tried %s got %d attempts after its expiry, want none", addr, n)
		}
	}
}

// Q-3 (rt31d F1) over TCP: the next hop accepts the connection and
// never greets, with a window of one; the message's delay notice goes
// beside its hung first session and says why in words, not an empty
// line (the reproduction's "<rA@slow.test>: ").
func TestQ3DelayNoticeBesideHungGreetingOverTCP(t *testing.T) {
	s := openTest(t)
	t0 := time.Unix(1_700_000_000, 0)
	clk := clock.NewFake(t0)
	hung, open := hangingHop(t)
	h := &windowHops{
		smtpHops: &smtpHops{addrs: map[string]string{"hung.test": hung}, done: map[string]int{}},
		max:      map[string]int{"hung.test": 1},
	}
	q := NewManager(s, h, ManagerConfig{MaxActive: 4, Clock: clk, DelayNotification: time.Minute, MessageExpiration: time.Hour,
		Scheduler: SchedulerConfig{InitialWindow: 1, ThrottleRecheck: 10 * time.Second}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	m := msg(s, "c@example.org", "x@hung.test")
	m.Arrived = clk.Now()
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the session to the next hop that never greets", func() bool { return open.Load() >= 1 })
	var dsn string
	for i := 0; i < 80 && dsn == ""; i++ {
		clk.Advance(5 * time.Second) // the notice at 1m, beside the hung job after its grace
		time.Sleep(20 * time.Millisecond)
		for _, d := range messages(t, s) {
			if d.Connector == "dsn" {
				if b, err := q.Body(d.ID); err == nil && strings.Contains(string(b), "Action: delayed") {
					dsn = string(b)
				}
			}
		}
	}
	if dsn == "" {
		t.Fatal("no delay DSN beside the hung session")
	}
	line := dsnTextLine(dsn, "x@hung.test")
	if reason := strings.TrimPrefix(line, "<x@hung.test>: "); line == "" || strings.TrimSpace(reason) == "" || !strings.Contains(reason, "no host") {
		t.Errorf("delay DSN's line for the recipient whose first attempt hangs at the greeting: %q; want the reason in words\n%s", line, dsn)
	}
}
