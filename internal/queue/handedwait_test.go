package queue

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"umbra/internal/clock"
)

// A pickup file's WaitHandedOn registered before the attempt ends is a
// waiter too: its results must not be set aside for DeferLimit.
// hasWaiters looks at q.waiters (WaitGone) only, not q.handed.
func TestHandedOnWaiterNotHeldByDeferral(t *testing.T) {
	for _, kind := range []string{"WaitGone", "WaitHandedOn"} {
		t.Run(kind, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "queue.db")
			s := openDeferring(t, path, time.Hour, nil)
			clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			gates := make(chan chan struct{}, 10)
			d := newScripted(func(string, int) (Outcome, string) { <-<-gates; return RelayedOK, "250 2.0.0 ok" })
			q := NewManager(s, d, ManagerConfig{Clock: clk, MaxActive: 10})
			ctx, cancel := context.WithCancel(context.Background())
			defer func() { cancel(); q.Wait() }()
			q.Start(ctx)
			// Warm up: the scheduler's own first writes come and go.
			for i := 0; i < 3; i++ {
				g := make(chan struct{})
				close(g)
				gates <- g
				m := msg(s, "a@example.org", "w@example.net")
				if err := q.Submit(ctx, m, []byte(body)); err != nil {
					t.Fatal(err)
				}
				d.wait(t)
			}
			time.Sleep(200 * time.Millisecond)
			q.Settle(ctx)
			g := make(chan struct{})
			gates <- g
			m := msg(s, "a@example.org", "x@example.net")
			if err := q.Submit(ctx, m, []byte(body)); err != nil {
				t.Fatal(err)
			}
			var ch <-chan struct{}
			if kind == "WaitGone" {
				c, stop := q.WaitGone(m.ID)
				defer stop()
				ch = c
			} else {
				ch = q.WaitHandedOn(m.ID) // as the pickup watcher does (pickup/watcher.go await)
			}
			close(g) // the attempt ends after the waiter registered
			d.wait(t)
			select {
			case <-ch:
			case <-time.After(5 * time.Second):
				t.Fatalf("%s waiter not woken 5s after the attempt ended (writers set aside: %d): held by the result commit deferral (DeferLimit 1h)", kind, s.asideN.Load())
			}
		})
	}
}
