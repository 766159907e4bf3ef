package queue

import (
	"context"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-6, Q-3 (rr24 F1): a copy taken over from a primary carries umbra's
// own note ("451 4.4.0 taken over from PRIMARY: …", no next hop), not a
// host's reply: it was never tried here, so past its expiry it still
// gets its first attempt — which delivers it — instead of failing
// 550 5.4.7 with a failure DSN quoting the note.
func TestTakenOverCopyPastExpiryGetsItsFirstAttempt(t *testing.T) {
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	var mu sync.Mutex
	shadowing := true
	var dsns []string
	relayed := 0
	d := DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		mu.Lock()
		defer mu.Unlock()
		var out []Result
		for _, i := range rcpts {
			switch {
			case m.Connector == "dsn":
				dsns = append(dsns, string(b))
				out = append(out, Result{Rcpt: i, Outcome: RelayedOK, Queue: "mx:example.org", Reply: "250 ok"})
			case shadowing:
				out = append(out, Result{Rcpt: i, Outcome: ShadowedOK, Queue: "site:b", Reply: "250 ok",
					Primary: "hub-b", PrimaryAddr: "127.0.0.2:25", ShadowID: m.ID.String() + "-b"})
			default:
				relayed++
				out = append(out, Result{Rcpt: i, Outcome: RelayedOK, Queue: "site:c", NextHop: "mx.c.example[192.0.2.3]:25", Reply: "250 ok"})
			}
		}
		return out
	})
	q := NewManager(s, d, ManagerConfig{Clock: clk, Hostname: "mx.test", DelayNotification: 30 * time.Second,
		MessageExpiration: time.Hour, RetrySchedule: []time.Duration{time.Minute}})
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
	// The primary never delivered it; the takeover comes after the
	// copy's expiry.
	mu.Lock()
	shadowing = false
	mu.Unlock()
	clk.Advance(2 * time.Hour)
	if n, err := q.Takeover("hub-b", "3 heartbeats failed"); n != 1 || err != nil {
		t.Fatalf("takeover: %d, %v", n, err)
	}
	waitFor(t, "the taken-over copy settled", func() bool {
		got, _ := q.Message(m.ID)
		return got == nil || got.State == Ready && got.Attempts > 0 || got.Rcpts[0].Status != Pending
	})
	mu.Lock()
	defer mu.Unlock()
	if relayed != 1 {
		t.Errorf("taken-over copy relayed %d times, want its one first attempt", relayed)
	}
	for _, got := range messages(t, s) {
		if got.Connector == "dsn" {
			t.Errorf("DSN %s for a copy never tried here", got.ID)
		}
	}
	if len(dsns) != 0 {
		t.Errorf("%d DSN(s) relayed; first:\n%s", len(dsns), dsns[0])
	}
}
