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

// Q-3, SMTP-7 (sched26 item 2): a message whose last attempt reached a
// host (mx.down.test[192.0.2.1] answered 450), then held in its
// suspended queue — the delivery answers Held, no host — gets its delay
// notice and its expiry on time; each DSN says what is true: the
// operator here holds the message. It names no Remote-MTA for the hold's
// words, and neither the earlier host (its reply is no longer the
// recipient's), nor a Diagnostic-Code of type smtp.
// A sender outside reads the hold described (its queue's name may be
// the organisation's own), one inside its whole words.
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
		if strings.Contains(d, "Remote-MTA") || strings.Contains(d, "mx.down.test") || strings.Contains(d, "192.0.2.1") {
			t.Errorf("%s DSN of a held message names a host:\n%s", what, d)
		}
		if strings.Contains(d, "Diagnostic-Code: smtp") {
			t.Errorf("%s DSN of a held message quotes the hold as a host's reply:\n%s", what, d)
		}
		if want := map[bool]string{false: heldDescribed, true: HeldReply("mx:down.test")}[inside]; !strings.Contains(d, want) {
			t.Errorf("%s DSN does not say the message is held here:\n%s", what, d)
		}
	}
}

func senders(inside bool) []string {
	if inside {
		return []string{"example.org"}
	}
	return nil
}
