package queue

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// hangsAgain defers its first session to slow.test at once and hangs
// every later one until the gate opens; other mail (the DSNs) is
// relayed, its body kept.
type hangsAgain struct {
	mu    sync.Mutex
	calls map[string]int
	dsns  []string
	gate  chan struct{}
}

func (h *hangsAgain) Plan(_ context.Context, m *Message, rcpts []int) []Job {
	d := domainOf(m.Rcpts[rcpts[0]].Addr)
	return []Job{{Rcpts: rcpts, Dest: "mx/" + d, Queue: "mx:" + d, Max: 5}}
}

func (h *hangsAgain) Deliver(ctx context.Context, m *Message, body []byte, rcpts []int) []Result {
	d := domainOf(m.Rcpts[rcpts[0]].Addr)
	h.mu.Lock()
	h.calls[d]++
	n := h.calls[d]
	if d != "slow.test" {
		h.dsns = append(h.dsns, string(body))
	}
	h.mu.Unlock()
	out := make([]Result, len(rcpts))
	for k, i := range rcpts {
		out[k] = Result{Rcpt: i, Outcome: RelayedOK, Queue: "mx:" + d, Reply: "250 2.0.0 ok"}
		if d == "slow.test" {
			out[k] = Result{Rcpt: i, Outcome: Deferred, Queue: "mx:" + d, NextHop: "mx.slow.test[192.0.2.9]:25", Reply: "451 4.3.0 try later"}
		}
	}
	if d == "slow.test" && n > 1 {
		select {
		case <-h.gate:
		case <-ctx.Done():
		}
	}
	return out
}

// Q-3 (sched24, rt23d F1's other half): the delay notice goes when it
// falls due, not when the attempt made then ends. A retry brought
// forward to the notice's time (noLaterThanDue) to a next hop that hangs
// held the delay DSN for as long as the session hung (a connect or
// command timeout: minutes). The notice is committed first, without an
// attempt and without a retry step, and the attempt follows at once.
func TestDelayNoticeNotHeldByTheAttemptMadeThen(t *testing.T) {
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	h := &hangsAgain{calls: map[string]int{}, gate: make(chan struct{})}
	q := NewManager(s, h, ManagerConfig{Hostname: "mx.test", Clock: clk,
		RetrySchedule: []time.Duration{40 * time.Second}, MessageExpiration: time.Hour,
		DelayNotification: 5 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	released := false
	defer func() {
		if !released {
			close(h.gate)
		}
		cancel()
		q.Wait()
	}()
	q.Start(ctx)
	m := msg(s, "sender@example.org", "w@slow.test")
	m.Arrived = t0
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first deferral", func() bool {
		got, _ := q.Message(m.ID)
		return got != nil && got.State == Ready && got.Attempts == 1
	})
	count := func(d string) int { h.mu.Lock(); defer h.mu.Unlock(); return h.calls[d] }
	clk.Advance(5 * time.Second) // the notice falls due; the retry made then hangs
	waitFor(t, "the delay DSN while the attempt hangs", func() bool { return count("example.org") == 1 })
	h.mu.Lock()
	dsn := h.dsns[0]
	h.mu.Unlock()
	if !strings.Contains(dsn, "Action: delayed") || !strings.Contains(dsn, "451 4.3.0 try later") {
		t.Errorf("delay DSN:\n%s", dsn)
	}
	waitFor(t, "the attempt made after the notice", func() bool { return count("slow.test") == 2 })
	released = true
	close(h.gate)
	waitFor(t, "its results", func() bool {
		got, _ := q.Message(m.ID)
		return got != nil && got.State == Ready && got.Attempts == 2
	})
	if got, _ := q.Message(m.ID); !got.DelayNotified {
		t.Errorf("delay notice not recorded")
	}
	if n := count("example.org"); n != 1 {
		t.Errorf("%d DSNs, want the one delay notice", n)
	}
}
