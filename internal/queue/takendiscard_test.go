package queue

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// A copy taken over from a primary that fails, and not handed on yet,
// is settled by that primary's discard when it comes back and finishes
// the original — whatever holds the copy here: its retry time, an
// operator's hold of the message, a suspension of its route's queue, or
// an attempt in progress. A copy the discard missed would be delivered
// once more by the resume (or the retry): a duplicate nothing needs.
func TestDiscardSettlesTakenOverCopy(t *testing.T) {
	for _, state := range []string{"deferred", "suspended message", "held by a suspended queue", "in delivery"} {
		t.Run(state, func(t *testing.T) {
			s := openTest(t)
			clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			db := &primaryDB{v: "db1"}
			var mu sync.Mutex
			held, attempts := false, 0
			var block chan struct{} // an attempt after the takeover waits for it
			entered := make(chan struct{}, 1)
			d := DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
				mu.Lock()
				attempts++
				hold, wait := held, block
				mu.Unlock()
				if wait != nil && db.get() == "" {
					entered <- struct{}{}
					<-wait
				}
				var out []Result
				for _, i := range rcpts {
					switch {
					case db.get() != "":
						out = append(out, Result{Rcpt: i, Outcome: ShadowedOK, Primary: "hub-b", PrimaryAddr: "127.0.0.2:25",
							ShadowID: m.ID.String() + "-b", PrimaryDB: db.get(), Reply: "250 queued"})
					case hold:
						out = append(out, Result{Rcpt: i, Outcome: Held, Queue: "mx:b.example", Reply: HeldReply("mx:b.example")})
					default:
						out = append(out, Result{Rcpt: i, Outcome: Deferred, Queue: "mx:b.example", NextHop: "mx.b.example[192.0.2.1]:25",
							Reply: "451 4.4.1 later"})
					}
				}
				return out
			})
			q := NewManager(s, d, ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Hour}})
			ctx, cancel := context.WithCancel(context.Background())
			defer func() { cancel(); q.Wait() }()
			q.Start(ctx)
			m := msg(s, "a@example.org", "x@b.example")
			m.Arrived = clk.Now()
			if err := q.Submit(ctx, m, []byte(body)); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the shadow copy", func() bool { got, _ := q.Message(m.ID); return got != nil && got.State == Shadow })
			sid := m.ID.String() + "-b"

			// hub-b fails: no route through it any more, the copy is taken over.
			db.set("")
			release := make(chan struct{})
			switch state {
			case "held by a suspended queue":
				if err := q.SuspendQueue(ctx, "mx:b.example"); err != nil {
					t.Fatal(err)
				}
				mu.Lock()
				held = true
				mu.Unlock()
			case "in delivery":
				mu.Lock()
				block = release
				mu.Unlock()
			}
			for i := 0; i < 3; i++ {
				if _, _, err := q.ShadowHeartbeatFailed("hub-b", clk.Now(), 0, 3, "timeout"); err != nil {
					t.Fatal(err)
				}
			}
			switch state {
			case "deferred", "suspended message":
				waitFor(t, "the taken-over copy's deferral", func() bool {
					got, _ := q.Message(m.ID)
					return got != nil && got.State == Ready && got.Attempts == 1
				})
				if state == "suspended message" {
					if err := q.SuspendMessage(ctx, m.ID); err != nil {
						t.Fatal(err)
					}
				}
			case "held by a suspended queue":
				waitFor(t, "the taken-over copy held in its route's queue", func() bool {
					got, _ := q.Message(m.ID)
					return got != nil && got.State == Ready && got.Rcpts[0].Queue == "mx:b.example"
				})
			case "in delivery":
				select {
				case <-entered:
				case <-time.After(10 * time.Second):
					t.Fatal("the taken-over copy was not attempted")
				}
			}

			// hub-b is back with its database and finished the original.
			if _, err := q.ShadowContact("hub-b", "db1", []string{sid}); err != nil {
				t.Fatal(err)
			}
			close(release)
			waitFor(t, "the discard to settle the taken-over copy", func() bool {
				_, err := q.Message(m.ID)
				return errors.Is(err, ErrNotFound)
			})
			// Nothing brings it back: a resume of everything, a retry.
			mu.Lock()
			before := attempts
			mu.Unlock()
			if _, err := q.ResumeQueue(ctx, "mx:b.example"); err != nil && !errors.Is(err, ErrNotApplicable) { // not suspended: nothing to release (rt18e-F4)
				t.Fatal(err)
			}
			clk.Advance(2 * time.Hour)
			q.Kick()
			time.Sleep(50 * time.Millisecond)
			mu.Lock()
			after := attempts
			mu.Unlock()
			if after != before {
				t.Fatalf("the settled copy was attempted again (%d attempts, %d before)", after, before)
			}
		})
	}
}
