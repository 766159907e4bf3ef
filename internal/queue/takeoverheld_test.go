package queue

import (
	"context"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-6, Q-3, Q-4: a copy taken over from a primary past its expiry is
// owed its first attempt here (takenOverUntried) — also when the queue
// its route takes is suspended at the takeover. The hold's reply
// (HeldReply) replaced the takeover's note, so after the resume the
// copy was bound by the ordinary expiry: its next claim failed it
// 550 5.4.7 with a failure DSN, no connection made. The hold now carries
// the note, as a throttle and a dead mark do.
func TestSR6TakenOverCopyHeldThenResumedGetsItsFirstAttempt(t *testing.T) {
	_, clk, h, q, m, ctx := heldTakeoverRig(t)
	h.mu.Lock()
	h.shadowing = false
	h.mu.Unlock()
	if err := q.SuspendQueue(ctx, "mx:c.example"); err != nil {
		t.Fatal(err)
	}
	// The takeover comes after the copy's expiry, its queue suspended.
	clk.Advance(2 * time.Hour)
	if n, err := q.Takeover("hub-b", "3 heartbeats failed"); n != 1 || err != nil {
		t.Fatalf("takeover: %d, %v", n, err)
	}
	waitFor(t, "the taken-over copy held", func() bool {
		got, _ := q.Message(m.ID)
		return got == nil || got.Rcpts[0].Status != Pending || heldBy(got.Rcpts[0].LastReply) != "" ||
			strings.Contains(got.Rcpts[0].LastReply, heldSuffix)
	})
	if got, _ := q.Message(m.ID); got == nil || !takenOverUntried(got) {
		t.Fatalf("the copy held past its expiry: %+v; want it pending, still untried here (its note kept)", got)
	}
	if _, err := q.ResumeQueue(ctx, "mx:c.example"); err != nil {
		t.Fatal(err)
	}
	q.Kick()
	waitFor(t, "the copy's claim after the resume", func() bool {
		got, _ := q.Message(m.ID)
		h.mu.Lock()
		defer h.mu.Unlock()
		return got == nil || got.Rcpts[0].Status != Pending || h.relayed["y@c.example"] > 0
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.relayed["y@c.example"] != 1 {
		got, _ := q.Message(m.ID)
		var st RcptStatus
		var reply string
		if got != nil {
			st, reply = got.Rcpts[0].Status, got.Rcpts[0].LastReply
		}
		t.Fatalf("taken-over copy held, then resumed, never tried here: %v %q (relayed %d, %d DSN(s)); want its first attempt",
			st, reply, h.relayed["y@c.example"], len(h.dsns))
	}
}

// holdingHost answers Held for a recipient routed to a suspended queue,
// as the deliverer does (delivery.go), and passes the rest on.
type holdingHost struct {
	*deadTakeoverHost
	suspended func(string) bool
}

func (h *holdingHost) Deliver(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
	if m.Connector != "dsn" && h.suspended("mx:c.example") {
		var out []Result
		for _, i := range rcpts {
			out = append(out, Result{Rcpt: i, Outcome: Held, Queue: "mx:c.example", Reply: HeldReply("mx:c.example")})
		}
		return out
	}
	return h.deadTakeoverHost.Deliver(ctx, m, b, rcpts)
}

// blockingHost blocks the delivery of a recipient of c.example until
// the server's stop, then answers as a cancelled connect does.
type blockingHost struct {
	*deadTakeoverHost
	block   bool
	entered chan struct{}
}

func (h *blockingHost) Deliver(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
	if h.block && m.Connector != "dsn" && !h.shadowingNow() {
		h.entered <- struct{}{}
		<-ctx.Done()
		var out []Result
		for _, i := range rcpts {
			out = append(out, Result{Rcpt: i, Outcome: Deferred, Queue: "mx:c.example",
				Reply: "451 4.4.1 connect to mx.c.example[192.0.2.3]:25: operation was canceled"})
		}
		return out
	}
	return h.deadTakeoverHost.Deliver(ctx, m, b, rcpts)
}

func (h *deadTakeoverHost) shadowingNow() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.shadowing
}

// SR-6, Q-3, Q-5: the sibling at the stop. A taken-over copy's first
// attempt here, past its expiry, is cut by the server's stop: the stop's
// note (stopReply) replaced the takeover's, so after the restart the
// copy was bound by the ordinary expiry and failed 5.4.7 at its claim,
// never tried here. The stop's note now carries the takeover's.
func TestSR6TakenOverCopyStoppedThenRestartedGetsItsFirstAttempt(t *testing.T) {
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	h := &deadTakeoverHost{shadowing: true, relayed: map[string]int{}}
	bh := &blockingHost{deadTakeoverHost: h, block: true, entered: make(chan struct{}, 1)}
	cfg := ManagerConfig{MaxActive: 100, Clock: clk, Hostname: "mx.test", DelayNotification: 0,
		MessageExpiration: time.Hour, RetrySchedule: []time.Duration{time.Minute}}
	q := NewManager(s, bh, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	q.Start(ctx)
	m := msg(s, "a@example.org", "y@c.example")
	m.Arrived = t0
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the shadow copy", func() bool {
		got, _ := q.Message(m.ID)
		return got != nil && got.State == Shadow
	})
	h.mu.Lock()
	h.shadowing = false
	h.mu.Unlock()
	clk.Advance(2 * time.Hour)
	if n, err := q.Takeover("hub-b", "3 heartbeats failed"); n != 1 || err != nil {
		t.Fatalf("takeover: %d, %v", n, err)
	}
	select {
	case <-bh.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the copy's first attempt did not start")
	}
	cancel() // the server stops while the attempt runs
	q.Wait()
	var stored *Message
	if err := s.View(func(tx *Tx) error {
		var err error
		stored, err = tx.Get(m.ID)
		return err
	}); err != nil || !takenOverUntried(stored) {
		t.Fatalf("the copy after the stop: %+v, %v; want it pending, still untried here (its note kept)", stored, err)
	}
	// The restart: its first attempt here delivers it.
	bh.block = false
	q2 := NewManager(s, bh, cfg)
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer func() { cancel2(); q2.Wait() }()
	q2.Start(ctx2)
	waitFor(t, "the copy's claim after the restart", func() bool {
		got, _ := q2.Message(m.ID)
		h.mu.Lock()
		defer h.mu.Unlock()
		return got == nil || h.relayed["y@c.example"] > 0
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.relayed["y@c.example"] != 1 {
		t.Fatalf("taken-over copy stopped, then restarted, never tried here: relayed %d, %d DSN(s); want its first attempt",
			h.relayed["y@c.example"], len(h.dsns))
	}
}

// heldTakeoverRig is a manager whose host shadows every message and
// holds the suspended queues' mail (holdingHost), expiry an hour, one
// message for y@c.example accepted at the clock's start and waiting as
// hub-b's shadow copy; stopped at the test's end.
func heldTakeoverRig(t *testing.T) (*Store, *clock.Fake, *deadTakeoverHost, *Manager, *Message, context.Context) {
	t.Helper()
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	h := &deadTakeoverHost{shadowing: true, relayed: map[string]int{}}
	var q *Manager
	held := &holdingHost{deadTakeoverHost: h, suspended: func(name string) bool { return q.IsSuspended(name) }}
	q = NewManager(s, held, ManagerConfig{MaxActive: 100, Clock: clk, Hostname: "mx.test", DelayNotification: 0,
		MessageExpiration: time.Hour, RetrySchedule: []time.Duration{time.Minute}})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); q.Wait() })
	q.Start(ctx)
	m := msg(s, "a@example.org", "y@c.example")
	m.Arrived = t0
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the shadow copy", func() bool {
		got, _ := q.Message(m.ID)
		return got != nil && got.State == Shadow
	})
	return s, clk, h, q, m, ctx
}
