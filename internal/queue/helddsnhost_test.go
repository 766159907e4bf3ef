package queue

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// dsnCatcher is planned, keeping the body of every message to the
// senders' domain example.org: the DSNs.
type dsnCatcher struct {
	*planned
	mu     sync.Mutex
	bodies []string
}

func (c *dsnCatcher) Deliver(ctx context.Context, m *Message, body []byte, rcpts []int) []Result {
	if domainOf(m.Rcpts[rcpts[0]].Addr) == "example.org" {
		c.mu.Lock()
		c.bodies = append(c.bodies, string(body))
		c.mu.Unlock()
	}
	return c.planned.Deliver(ctx, m, body, rcpts)
}

func (c *dsnCatcher) dsns() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.bodies...)
}

// Q-3, SMTP-7 (sched26 item 2; dsnlast47): a message whose last
// attempt reached a host (mx.down.test[192.0.2.1] answered 450), then
// held in its suspended queue — the delivery answers Held, no host —
// gets its delay notice and its expiry on time; each DSN says what is
// true: the host's reply is the cause (its Remote-MTA, its
// Diagnostic-Code of type smtp, the reply in the text), and the
// operator here holds the message, said beside it — never the hold's
// words as that host's reply (sched26), nor the hold in place of the
// host's reply (dsnlast47: the sender lost the real cause). A sender
// outside reads the hold described (its queue's name may be the
// organisation's own), one inside the queue named.
func TestHeldMessageDSNNamesNoEarlierHost(t *testing.T) {
	for _, inside := range []bool{false, true} {
		name := "outside"
		if inside {
			name = "inside"
		}
		t.Run(name, func(t *testing.T) { heldDSNNamesNoEarlierHost(t, inside) })
	}
}

func heldDSNNamesNoEarlierHost(t *testing.T, inside bool) {
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	p := &dsnCatcher{planned: newPlanned()}
	q := NewManager(s, p, ManagerConfig{Hostname: "mx.test", Clock: clk,
		RetrySchedule: []time.Duration{10 * time.Second}, MessageExpiration: 60 * time.Second,
		DelayNotification: 20 * time.Second, Inside: Inside{SenderDomains: senders(inside)}})
	p.suspended = q.IsSuspended
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { close(p.stop); cancel(); q.Wait() }()
	if err := q.SuspendQueue(ctx, "mx:down.test"); err != nil {
		t.Fatal(err)
	}
	m := msg(s, "a@example.org", "x@down.test")
	m.State, m.Arrived, m.NextAttempt, m.Attempts = Ready, t0, t0.Add(5*time.Second), 1
	m.Rcpts[0].NextHop, m.Rcpts[0].LastReply = "mx.down.test[192.0.2.1]", "450 4.2.0 mailbox busy, try later"
	if err := s.Update(ctx, func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	q.Start(ctx)
	clk.Advance(5 * time.Second) // its retry: the delivery holds it
	waitFor(t, "the retry held", func() bool {
		got, _ := q.Message(m.ID)
		return got != nil && got.State == Ready && heldBy(got.Rcpts[0].LastReply) == "mx:down.test"
	})
	clk.Advance(15 * time.Second) // t0 + 20s: the delay notice
	waitFor(t, "the delay DSN", func() bool { return len(p.dsns()) >= 1 })
	clk.Advance(40 * time.Second) // t0 + 60s: the expiry
	waitFor(t, "the failure DSN", func() bool { return len(p.dsns()) >= 2 })
	for k, d := range p.dsns() {
		what := [...]string{"delay", "failure"}[min(k, 1)]
		if !strings.Contains(d, "Remote-MTA: dns; mx.down.test") {
			t.Errorf("%s DSN of a held message does not name the host that last answered it:\n%s", what, d)
		}
		if !strings.Contains(d, "Diagnostic-Code: smtp; 450 4.2.0 mailbox busy, try later") {
			t.Errorf("%s DSN of a held message does not quote the host's last reply:\n%s", what, d)
		}
		if strings.Contains(d, "Diagnostic-Code: smtp; 452 4.3.2") || strings.Contains(d, "no host was asked") {
			t.Errorf("%s DSN of a held message quotes the hold as a host's reply, or says no host was asked:\n%s", what, d)
		}
		kind := map[bool]Notify{false: NotifyDelay, true: NotifyFailure}[k > 0]
		if want := heldMention("mx:down.test", kind, inside); !strings.Contains(d, "450 4.2.0 mailbox busy, try later"+want) {
			t.Errorf("%s DSN does not say the message is held here beside the host's reply (%q):\n%s", what, want, d)
		}
	}
}

func senders(inside bool) []string {
	if inside {
		return []string{"example.org"}
	}
	return nil
}

// Q-3 (sched26 item 2, its sibling): the same mistake for umbra's
// other notes. A retry whose last attempt the server's stop cut at
// mx.x.example[192.0.2.1] (stopReply, that host kept as next hop) waits
// for its destination's window at its delay notice: the notice answers
// it with the throttle's note, which carries no host's reply (the stop's
// is none). Its delay DSN names no Remote-MTA and quotes neither note as
// a host's reply (Diagnostic-Code smtp).
func TestThrottledAfterStopDSNNamesNoHost(t *testing.T) {
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
	if strings.Contains(d, "Remote-MTA") || strings.Contains(d, "Diagnostic-Code: smtp") {
		t.Errorf("delay DSN names a host for umbra's own note:\n%s", d[i:min(len(d), i+400)])
	}
	// m2's session reached the next hop before the stop cut it: its DSN
	// never tells the sender it was not attempted (notAttempted).
	if strings.Contains(d, "not attempted") {
		t.Errorf("delay DSN says an attempted recipient was not attempted:\n%s", d[:min(len(d), i+600)])
	}
}
