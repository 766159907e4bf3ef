package queue

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// deadTakeoverHost plans every recipient but a DSN's to one destination,
// mx/c.example. While shadowing, it shadows (the copy's primary is
// hub-b); the killer message's recipient is deferred 4.4.2 (a failed
// cohort: the destination goes dead); anything else is relayed.
type deadTakeoverHost struct {
	mu        sync.Mutex
	shadowing bool
	relayed   map[string]int
	dsns      []string
}

func (h *deadTakeoverHost) Plan(_ context.Context, m *Message, rcpts []int) []Job {
	if m.Connector == "dsn" {
		return []Job{{Dest: "mx/dsn.test", Queue: "mx:dsn.test", Rcpts: rcpts}}
	}
	return []Job{{Dest: "mx/c.example", Queue: "mx:c.example", Max: 1, Rcpts: rcpts}}
}

func (h *deadTakeoverHost) Deliver(_ context.Context, m *Message, b []byte, rcpts []int) []Result {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []Result
	for _, i := range rcpts {
		switch {
		case m.Connector == "dsn":
			h.dsns = append(h.dsns, string(b))
			out = append(out, Result{Rcpt: i, Outcome: RelayedOK, Queue: "mx:dsn.test", Reply: "250 ok"})
		case h.shadowing:
			out = append(out, Result{Rcpt: i, Outcome: ShadowedOK, Queue: "site:b", Reply: "250 ok",
				Primary: "hub-b", PrimaryAddr: "127.0.0.2:25", ShadowID: m.ID.String() + "-b"})
		case m.Rcpts[i].Addr == "killer@c.example":
			out = append(out, Result{Rcpt: i, Outcome: Deferred, Queue: "mx:c.example", NextHop: "mx.c.example[192.0.2.3]:25",
				Reply: "451 4.4.2 mx.c.example is too busy, closing"})
		default:
			h.relayed[m.Rcpts[i].Addr]++
			out = append(out, Result{Rcpt: i, Outcome: RelayedOK, Queue: "mx:c.example", NextHop: "mx.c.example[192.0.2.3]:25", Reply: "250 ok"})
		}
	}
	return out
}

// SR-6, Q-3: a copy taken over from a primary past its expiry
// is owed its first attempt here (expiryBinds' one exception,
// TestTakenOverCopyPastExpiryGetsItsFirstAttempt) "also when its job
// waits" — and when its destination is dead at the takeover: the dead
// mark's answer replaced the takeover's note (deadWaitReply), and the
// commit of that answer (finish: unbound := … && !expiryBinds(m) read
// after the results were applied) no longer saw a copy never tried
// here: it failed it 550 5.4.7 with a failure DSN, no attempt made.
// The mark now carries the note (takenOverUntried reads realReply).
func TestTakenOverCopyMeetingDeadDestinationGetsItsFirstAttempt(t *testing.T) {
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	h := &deadTakeoverHost{shadowing: true, relayed: map[string]int{}}
	q := NewManager(s, h, ManagerConfig{MaxActive: 100, Clock: clk, Hostname: "mx.test", DelayNotification: 0,
		MessageExpiration: time.Hour, RetrySchedule: []time.Duration{time.Minute},
		Scheduler: SchedulerConfig{InitialWindow: 1, DeadCoolDown: 10 * time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
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
	// Another message kills the destination for ten hours.
	k := msg(s, "a@example.org", "killer@c.example")
	k.Arrived = t0
	if err := q.Submit(ctx, k, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the destination dead", func() bool {
		got, _ := q.Message(k.ID)
		return got != nil && got.State == Ready && got.Attempts == 1
	})
	// The takeover comes after the copy's expiry, the destination dead.
	clk.Advance(2 * time.Hour)
	if n, err := q.Takeover("hub-b", "3 heartbeats failed"); n != 1 || err != nil {
		t.Fatalf("takeover: %d, %v", n, err)
	}
	waitFor(t, "the taken-over copy's claim answered", func() bool {
		got, _ := q.Message(m.ID)
		return got == nil || got.Rcpts[0].Status != Pending || !strings.HasPrefix(got.Rcpts[0].LastReply, takeoverPrefix)
	})
	time.Sleep(200 * time.Millisecond)
	got, _ := q.Message(m.ID)
	if got == nil || got.Rcpts[0].Status != Pending {
		var st RcptStatus
		var reply string
		if got != nil {
			st, reply = got.Rcpts[0].Status, got.Rcpts[0].LastReply
		}
		h.mu.Lock()
		t.Errorf("taken-over copy never tried here, its destination dead at the takeover: %v %q (relayed %d, %d DSN(s)), want it pending for its first attempt",
			st, reply, h.relayed["y@c.example"], len(h.dsns))
		for _, d := range h.dsns {
			if strings.Contains(d, "y@c.example") {
				t.Logf("DSN:\n%s", d)
			}
		}
		h.mu.Unlock()
		return
	}
	// The cool-down ends: its first attempt delivers it.
	clk.Advance(10 * time.Hour)
	q.Kick()
	waitFor(t, "the copy's first attempt", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.relayed["y@c.example"] == 1
	})
}
