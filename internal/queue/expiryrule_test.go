package queue

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// Q-3 (rt32d F3; rr25 sched24b F1 before it): a message never tried
// that waits for its destination's window gets its delay notice on time
// and, at its expiry, fails without its job starting — one rule for
// every message (expiryBinds): no job starts after the expiry, and a
// waiting message's notice is not put off until its first attempt.
// Before, a message never tried was not bound: no notice while it
// waited, and past its expiry its first attempt opened a session.
func TestNeverTriedWaitingGetsNoticeAndFailsAtExpiry(t *testing.T) {
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	o := newSlotWait()
	q := NewManager(s, o, ManagerConfig{MaxActive: 100, Clock: clk, Hostname: "mx.test",
		RetrySchedule: []time.Duration{30 * time.Second}, MessageExpiration: 60 * time.Second, DelayNotification: 10 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	var open sync.Once
	release := func() { open.Do(func() { close(o.gate) }) }
	defer func() { release(); cancel(); q.Wait() }()
	q.Start(ctx)

	m1 := msg(s, "a@example.org", "first@x.example")
	m1.Arrived = t0
	o.mu.Lock()
	o.hold = m1.ID
	o.mu.Unlock()
	if err := q.Submit(ctx, m1, []byte(body)); err != nil {
		t.Fatal(err)
	}
	m2 := msg(s, "a@example.org", "w@x.example")
	m2.Arrived = t0
	if err := q.Submit(ctx, m2, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "m2 waiting behind m1", func() bool { return q.WaitingForWindow(m2.ID) })
	clk.Advance(11 * time.Second) // m2's notice falls due
	q.Kick()
	waitFor(t, "m2's delay notice while it waits", func() bool { return len(o.dsnsAbout("w@x.example", "delayed")) == 1 })
	clk.Advance(time.Minute) // past the expiry
	q.Kick()
	waitFor(t, "m2's failure at its expiry", func() bool { return len(o.dsnsAbout("w@x.example", "failed")) == 1 })
	release()
	waitFor(t, "m2 settled", func() bool {
		for _, m := range messages(t, s) {
			if m.ID == m2.ID {
				return false
			}
		}
		return true
	})
	if n := o.delivered("w@x.example"); n != 0 {
		t.Errorf("never-tried m2 got %d attempts after its expiry, want none", n)
	}
}

// Q-3 (rr25 sched24b F5): the expiry binds a message tried before or
// whose delay notice went (it has a Will-Retry-Until to keep) — one
// rule for the claim (expiredNow) and for the cut inside an attempt
// (withExpiry). A message never tried here whose delay notice went (the
// organisation's notice carried from the hop before) and that is past
// its expiry is failed at the claim: no attempt begins after the
// Will-Retry-Until, and none is handed a context already past the
// expiry (a pointless session, its DSN saying "expired during the
// attempt").
func TestNotifiedNeverTriedPastExpiryFailsAtClaim(t *testing.T) {
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	var mu sync.Mutex
	calls, bornCut, failed := 0, 0, false
	d := DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		mu.Lock()
		defer mu.Unlock()
		if m.Connector == "dsn" {
			failed = true
		} else {
			calls++
			if PastExpiry(ctx) {
				bornCut++
			}
		}
		out := make([]Result, len(rcpts))
		for k, i := range rcpts {
			out[k] = Result{Rcpt: i, Outcome: RelayedOK, Queue: "mx:example.net", NextHop: "mx.example.net[192.0.2.1]:25", Reply: "250 ok"}
		}
		return out
	})
	q := NewManager(s, d, ManagerConfig{Clock: clk, Hostname: "mx.test", DelayNotification: 30 * time.Minute,
		MessageExpiration: time.Hour, RetrySchedule: []time.Duration{time.Minute}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	m := msg(s, "a@example.org", "y@example.net")
	m.Arrived = t0.Add(-2 * time.Hour)
	m.DelayNotified = true
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "settled", func() bool {
		got, _ := q.Message(m.ID)
		return got == nil
	})
	waitFor(t, "the failure DSN sent", func() bool { mu.Lock(); defer mu.Unlock(); return failed })
	mu.Lock()
	defer mu.Unlock()
	if calls > 0 || bornCut > 0 {
		t.Errorf("%d attempts after the expiry of a notified message (%d with a context already past it): expiredNow and withExpiry disagree", calls, bornCut)
	}
}

// Q-3 (rr25 sched24b F3): the delay DSN and the expiry DSN waitdue.go
// makes for a message whose retry waits for its destination's window
// report the host's last reply (what any DSN quotes, dsnReporter), not
// umbra's throttle note under the host's name.
func TestWaitingNoticeQuotesHostReply(t *testing.T) {
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	o := newSlotWait()
	o.reply["w@x.example"] = Result{Outcome: Deferred, Queue: "mx:x.example", NextHop: "mx.x.example[192.0.2.1]:25", Reply: "451 4.7.1 greylisted, come back later"}
	q := NewManager(s, o, ManagerConfig{MaxActive: 100, Clock: clk, Hostname: "mx.test",
		RetrySchedule: []time.Duration{30 * time.Second}, MessageExpiration: 60 * time.Second, DelayNotification: 10 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	var open sync.Once
	release := func() { open.Do(func() { close(o.gate) }) }
	defer func() { release(); cancel(); q.Wait() }()
	q.Start(ctx)

	m2 := msg(s, "a@example.org", "w@x.example")
	m2.Arrived = t0
	if err := q.Submit(ctx, m2, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "m2's first attempt deferred", func() bool {
		for _, m := range messages(t, s) {
			if m.ID == m2.ID {
				return m.Attempts == 1 && m.State == Ready
			}
		}
		return false
	})
	m1 := msg(s, "a@example.org", "first@x.example")
	m1.Arrived = t0
	o.mu.Lock()
	o.hold = m1.ID
	o.mu.Unlock()
	if err := q.Submit(ctx, m1, []byte(body)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	clk.Advance(10 * time.Second) // the notice: m2 claimed, waits behind m1
	waitFor(t, "m2's delay DSN", func() bool { return len(o.dsnsAbout("w@x.example", "delayed")) == 1 })
	d := o.dsnsAbout("w@x.example", "delayed")[0]
	if !strings.Contains(d, "greylisted") {
		i := strings.Index(d, "Final-Recipient")
		t.Errorf("delay DSN does not quote the host's reply:\n%s", d[i:min(len(d), i+400)])
	}
	// Its retry waits behind m1 again until the expiry.
	clk.Advance(25 * time.Second)
	waitFor(t, "m2 waiting again", func() bool { return q.WaitingForWindow(m2.ID) })
	clk.Advance(25 * time.Second)
	waitFor(t, "m2's expiry DSN", func() bool { return len(o.dsnsAbout("w@x.example", "failed")) == 1 })
	f := o.dsnsAbout("w@x.example", "failed")[0]
	if !strings.Contains(f, "greylisted") {
		i := strings.Index(f, "Final-Recipient")
		t.Errorf("expiry DSN does not quote the host's reply:\n%s", f[i:min(len(f), i+400)])
	}
}
