package queue

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// hangingHost is dsnCatcher whose deliveries to down.test wait for gate
// and then defer with a host's greeting timeout (the hop that accepts
// TCP and never greets); entered is closed when the first one waits.
type hangingHost struct {
	*dsnCatcher
	gate    chan struct{}
	entered chan struct{}
	once    sync.Once
}

const hungGreeting = "451 4.4.2 greeting from mx.down.test[192.0.2.1]:25: i/o timeout"

func (h *hangingHost) Deliver(ctx context.Context, m *Message, body []byte, rcpts []int) []Result {
	if domainOf(m.Rcpts[rcpts[0]].Addr) != "down.test" || h.suspended("mx:down.test") {
		return h.dsnCatcher.Deliver(ctx, m, body, rcpts)
	}
	h.once.Do(func() { close(h.entered) })
	select {
	case <-h.gate:
	case <-ctx.Done():
	}
	out := make([]Result, len(rcpts))
	for k, i := range rcpts {
		out[k] = Result{Rcpt: i, Outcome: Deferred, Queue: "mx:down.test", NextHop: "mx.down.test[192.0.2.1]:25", Reply: hungGreeting}
	}
	return out
}

// Q-3, SMTP-7 (rt27d F2; dsnlast47): the operator suspends the queue
// while the message's first attempt waits on the next hop's greeting;
// the attempt then ends with the host's timeout. The message is held
// from then on, and its delay DSN and its failure DSN at the expiry say
// so — the hold mentioned, beside the cause its attempt met: the host
// stopped answering at its greeting, in words (no Diagnostic-Code: the
// host said nothing), never the hold's words as a host's reply (the
// attempt's results commit came after the hold; the claim at the
// notice and at the expiry carried the recipient's own reply into the
// DSN), nor the hold in place of that cause (dsnlast47).
func TestHeldDuringAttemptDSNQuotesTheHold(t *testing.T) {
	for _, inside := range []bool{false, true} {
		name := "outside"
		if inside {
			name = "inside"
		}
		t.Run(name, func(t *testing.T) { heldDuringAttempt(t, inside) })
	}
}

func heldDuringAttempt(t *testing.T, inside bool) {
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	h := &hangingHost{dsnCatcher: &dsnCatcher{planned: newPlanned()}, gate: make(chan struct{}), entered: make(chan struct{})}
	q := NewManager(s, h, ManagerConfig{Hostname: "mx.test", Clock: clk,
		RetrySchedule: []time.Duration{5 * time.Minute}, MessageExpiration: 60 * time.Second,
		DelayNotification: 20 * time.Second, Inside: Inside{SenderDomains: senders(inside)}})
	h.suspended = q.IsSuspended
	ctx, cancel := context.WithCancel(context.Background())
	var open sync.Once
	release := func() { open.Do(func() { close(h.gate) }) }
	defer func() { release(); close(h.stop); cancel(); q.Wait() }()
	q.Start(ctx)
	m := msg(s, "a@example.org", "x@down.test")
	m.Arrived = t0
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the first attempt did not reach the host")
	}
	if err := q.SuspendQueue(ctx, "mx:down.test"); err != nil {
		t.Fatal(err)
	}
	release() // the greeting times out: the attempt ends deferred
	waitFor(t, "the attempt's end", func() bool {
		got, _ := q.Message(m.ID)
		return got != nil && got.State == Ready && got.Attempts == 1
	})
	clk.Advance(20 * time.Second) // the delay notice
	waitFor(t, "the delay DSN", func() bool { return len(h.dsns()) >= 1 })
	clk.Advance(40 * time.Second) // the expiry
	waitFor(t, "the failure DSN", func() bool { return len(h.dsns()) >= 2 })
	for k, d := range h.dsns() {
		what := [...]string{"delay", "failure"}[min(k, 1)]
		if strings.Contains(d, "Diagnostic-Code") || strings.Contains(d, "452 4.3.2") {
			t.Errorf("%s DSN of a message held during its attempt quotes a reply no host gave:\n%s", what, d)
		}
		if !strings.Contains(d, "stopped answering") {
			t.Errorf("%s DSN of a message held during its attempt does not say the cause its attempt met:\n%s", what, d)
		}
		kind := map[bool]Notify{false: NotifyDelay, true: NotifyFailure}[k > 0]
		if want := heldMention("mx:down.test", kind, inside); !strings.Contains(d, want) {
			t.Errorf("%s DSN does not say the message is held here (%q):\n%s", what, want, d)
		}
	}
}
