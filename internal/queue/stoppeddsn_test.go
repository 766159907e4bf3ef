package queue

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SMTP-1 (DSN): a recipient whose attempt the stop cut (stopReply), now
// waiting for a delivery slot, was attempted: its delay DSN says why it
// is not delivered yet, never that it was not attempted.
func TestStoppedAttemptDSNNotCalledUnattempted(t *testing.T) {
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	o := newSlotWait()
	o.reply["w@x.example"] = Result{Outcome: Deferred, Queue: "mx:x.example", NextHop: "mx.x.example[192.0.2.1]:25", Reply: stopReply}
	q := NewManager(s, o, ManagerConfig{MaxActive: 100, Clock: clk, Hostname: "mx.test", Inside: Inside{SenderDomains: []string{"example.org"}},
		RetrySchedule: []time.Duration{5 * time.Second}, MessageExpiration: 60 * time.Second, DelayNotification: 10 * time.Second})
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
	waitFor(t, "m2's first attempt stopped", func() bool {
		for _, m := range messages(t, s) {
			if m.ID == m2.ID {
				return m.Attempts == 1 && m.State == Ready && m.Rcpts[0].LastReply == stopReply
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
	waitFor(t, "m1 in delivery, holding the window", func() bool {
		m, _ := q.Message(m1.ID)
		return m != nil && m.State == Active && !q.WaitingForWindow(m1.ID)
	})
	clk.Advance(5 * time.Second) // m2's retry: claimed, waits behind m1
	waitFor(t, "m2 waiting for the window", func() bool { return q.WaitingForWindow(m2.ID) })
	clk.Advance(5 * time.Second) // the notice
	waitFor(t, "m2's delay DSN", func() bool { return len(o.dsnsAbout("w@x.example", "delayed")) == 1 })
	d := o.dsnsAbout("w@x.example", "delayed")[0]
	i := strings.Index(d, "Final-Recipient")
	// m2 was attempted (Attempts 1: its session reached the next hop,
	// the stop cut it): its DSN must not tell the sender it was not.
	if m, _ := q.Message(m2.ID); m == nil || m.Attempts != 1 {
		t.Fatalf("m2 attempts: want 1")
	}
	if strings.Contains(d, "not attempted") {
		t.Errorf("delay DSN says an attempted recipient was not attempted:\n%s", d[:min(len(d), i+600)])
	}
}
