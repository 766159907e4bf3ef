package queue

import (
	"context"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// routedShadow is a Deliverer whose one route for x@b.example is the
// queue mx:b.example: while db is set the copy is shadowed at hub-b,
// then every attempt defers it there (or holds it, when the queue is
// suspended). It names that route without an attempt (RouteNamer).
type routedShadow struct {
	db       *primaryDB
	q        *Manager
	mu       sync.Mutex
	attempts int
}

func (d *routedShadow) Deliver(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
	d.mu.Lock()
	d.attempts++
	d.mu.Unlock()
	var out []Result
	for _, i := range rcpts {
		switch {
		case m.Rcpts[i].Redirect != "":
			out = append(out, Result{Rcpt: i, Outcome: RelayedOK, Queue: "redirect:" + m.Rcpts[i].Redirect, Reply: "250 ok"})
		case d.db.get() != "":
			out = append(out, Result{Rcpt: i, Outcome: ShadowedOK, Primary: "hub-b", PrimaryAddr: "127.0.0.2:25",
				ShadowID: m.ID.String() + "-b", PrimaryDB: d.db.get(), Reply: "250 queued"})
		case d.q.IsSuspended("mx:b.example"):
			out = append(out, Result{Rcpt: i, Outcome: Held, Queue: "mx:b.example", Reply: HeldReply("mx:b.example")})
		default:
			out = append(out, Result{Rcpt: i, Outcome: Deferred, Queue: "mx:b.example", NextHop: "mx.b.example[192.0.2.1]:25",
				Reply: "451 4.4.1 later"})
		}
	}
	return out
}

func (d *routedShadow) RouteQueues(m *Message, rcpts []int) []string {
	out := make([]string, len(rcpts))
	for j, i := range rcpts {
		out[j] = "mx:b.example"
		if r := m.Rcpts[i].Redirect; r != "" {
			out[j] = "redirect:" + r
		}
	}
	return out
}

func (d *routedShadow) count() int { d.mu.Lock(); defer d.mu.Unlock(); return d.attempts }

// takenOver is a copy shadowed at hub-b, then taken over: the manager
// over a fresh store, its deliverer (routedShadow), the fake clock,
// the copy and the context the manager runs under (ended, and the
// manager waited for, when the test ends).
type takenOver struct {
	q   *Manager
	d   *routedShadow
	clk *clock.Fake
	m   *Message
	ctx context.Context
}

// takeOverAtHubB submits one message for x@b.example, which hub-b takes
// (the copy here is its shadow), then fails hub-b's heartbeat three
// times: the copy is taken over, attempted on its route mx:b.example
// and deferred there once (retry is the schedule's one step).
func takeOverAtHubB(t *testing.T, retry time.Duration) *takenOver {
	t.Helper()
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	d := &routedShadow{db: &primaryDB{v: "db1"}}
	q := NewManager(s, d, ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{retry}})
	d.q = q
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); q.Wait() })
	q.Start(ctx)
	m := msg(s, "a@example.org", "x@b.example")
	m.Arrived = clk.Now()
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the shadow copy", func() bool { got, _ := q.Message(m.ID); return got != nil && got.State == Shadow })
	d.db.set("")
	for i := 0; i < 3; i++ {
		if _, _, err := q.ShadowHeartbeatFailed("hub-b", clk.Now(), 0, 3, "timeout"); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the taken-over copy's deferral on its route", func() bool {
		got, _ := q.Message(m.ID)
		return got != nil && got.State == Ready && got.Attempts == 1
	})
	return &takenOver{q: q, d: d, clk: clk, m: m, ctx: ctx}
}

// An operator's retry, resume or redirect of a route's queue reaches
// every message waiting for that route — also a copy taken over from a
// failed primary and deferred on that route, which waits listed in the
// primary's shadow queue (shadow:hub-b) so that the primary stays
// watched.
func TestRouteQueueActionsReachTakenOverCopies(t *testing.T) {
	for _, action := range []string{"retry", "resume", "redirect"} {
		t.Run(action, func(t *testing.T) {
			to := takeOverAtHubB(t, time.Hour)
			q, d, clk, m, ctx := to.q, to.d, to.clk, to.m, to.ctx
			got, _ := q.Message(m.ID)
			if got.Rcpts[0].Queue != "shadow:hub-b" || !got.NextAttempt.After(clk.Now()) {
				t.Fatalf("the taken-over copy does not wait in its shadow queue for its retry: %+v, next %v", got.Rcpts[0], got.NextAttempt)
			}
			// The route's queue lists nothing else, and is no unknown name.
			if err := q.CheckQueue("mx:b.example", false); err != nil {
				t.Fatalf("the route of a taken-over copy is refused as a queue name: %v", err)
			}
			before := d.count()
			var n int
			var err error
			switch action {
			case "retry":
				n, err = q.RetryQueue(ctx, "mx:b.example")
			case "resume":
				if err = q.SuspendQueue(ctx, "mx:b.example"); err == nil {
					n, err = q.ResumeQueue(ctx, "mx:b.example")
				}
			case "redirect":
				n, err = q.RedirectQueue(ctx, "mx:b.example", "standby.example:25")
			}
			if err != nil || n != 1 {
				t.Fatalf("queue %s of the route reached %d messages (%v); want the taken-over copy", action, n, err)
			}
			switch action {
			case "redirect":
				waitFor(t, "the redirected copy to be relayed", func() bool {
					_, err := q.Message(m.ID)
					return err != nil
				})
			default:
				waitFor(t, "the copy attempted at once", func() bool { return d.count() > before })
			}
		})
	}
}
