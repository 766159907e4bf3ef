package smtp

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/queue"
)

// heldQueue keeps every message until the test confirms it: WaitGone's
// channel closes only when confirm is called.
type heldQueue struct {
	fakeQueue
	mu   sync.Mutex
	gone chan struct{}
}

func (q *heldQueue) WaitGone(queue.ID) (<-chan struct{}, func()) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.gone, func() {}
}

func (q *heldQueue) confirm() { close(q.gone) }

func startClockedServer(t *testing.T, q Queue, clk clock.Clock) *Server {
	t.Helper()
	conns := connectors(t, `
  - name: edge
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    max_acknowledgement_delay: 30s
`)
	s, err := NewServer(ServerConfig{Hostname: "mx.test", Connectors: conns, Routing: testTable(), Queue: q,
		Shadow: &fakeShadow{notes: map[string][]string{}}, ShadowEnabled: true, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	s.Serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s
}

// waitTimer waits (bounded) until the server sleeps on the fake clock.
func waitTimer(t *testing.T, clk *clock.Fake, n int) {
	t.Helper()
	for i := 0; clk.Pending() < n; i++ {
		if i == 2000 {
			t.Fatalf("the server never waited on the clock (%d timers): it answered without delaying the acknowledgement", clk.Pending())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// noReplyYet checks that nothing was written to the sender so far.
func noReplyYet(t *testing.T, d *dialog, when string) {
	t.Helper()
	d.conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if b, err := d.r.Peek(1); err == nil {
		t.Fatalf("%s: the final reply came early (%q…)", when, b)
	}
	d.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
}

// SR-9, timeout path: with no confirmation, the final 250 to DATA is
// withheld for exactly max_acknowledgement_delay (30 s here) on the
// server's clock, then given without "confirmed".
func TestDelayedAckWaitsForMaxDelay(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
	q := &heldQueue{gone: make(chan struct{})}
	s := startClockedServer(t, q, clk)
	d := dial(t, s, "")
	d.expect("220")
	d.openData()
	d.send("Subject: x\r\n\r\nwait\r\n.\r\n")
	waitTimer(t, clk, 1)
	noReplyYet(t, d, "before any time passed")
	clk.Advance(30*time.Second - time.Millisecond)
	if clk.Pending() != 1 {
		t.Fatal("the acknowledgement timer fired before max_acknowledgement_delay")
	}
	noReplyYet(t, d, "1 ms before max_acknowledgement_delay")
	clk.Advance(time.Millisecond)
	r := d.expect("250 2.0.0 Ok: queued as ")
	if strings.Contains(r, "confirmed") {
		t.Fatalf("unconfirmed message acknowledged as confirmed: %q", r)
	}
	if q.count() != 1 {
		t.Fatalf("%d messages queued", q.count())
	}
}

// SR-9, confirmed path: the 250 comes when the queue confirms, before the
// delay, and says so.
func TestDelayedAckWaitsForConfirmation(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
	q := &heldQueue{gone: make(chan struct{})}
	s := startClockedServer(t, q, clk)
	d := dial(t, s, "")
	d.expect("220")
	d.openData()
	d.send("Subject: x\r\n\r\nwait\r\n.\r\n")
	waitTimer(t, clk, 1)
	clk.Advance(29 * time.Second)
	noReplyYet(t, d, "before the confirmation")
	q.confirm()
	if r := d.expect("250 2.0.0 Ok: queued as "); !strings.HasSuffix(r, ", confirmed by the next hop") {
		t.Fatalf("confirmed path: %q", r)
	}
}

// departedQueue confirms at once and tells how the message left.
type departedQueue struct {
	heldQueue
	how string
}

func (q *departedQueue) Departure(queue.ID) string { return q.how }

// A message delivered to a local mailbox is not "confirmed by the next
// hop" (there is none): the acknowledgement says what happened.
func TestDelayedAckSaysHowTheMessageLeft(t *testing.T) {
	for how, want := range map[string]string{
		queue.DepartedDelivered: ", delivered to the mailbox",
		queue.DepartedRelayed:   ", confirmed by the next hop",
		queue.DepartedFailed:    "",
	} {
		clk := clock.NewFake(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
		q := &departedQueue{heldQueue: heldQueue{gone: make(chan struct{})}, how: how}
		q.confirm()
		s := startClockedServer(t, q, clk)
		d := dial(t, s, "")
		d.expect("220")
		d.openData()
		d.send("Subject: x\r\n\r\nwait\r\n.\r\n")
		r := d.expect("250 2.0.0 Ok: queued as ")
		if rest := r[strings.Index(r, "queued as ")+len("queued as "):]; strings.TrimLeft(rest, "0123456789abcdef") != want {
			t.Errorf("%s: %q, want the suffix %q", how, r, want)
		}
	}
}
