package queue

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-7 after `umbra db restore` of a holder (finalshadow40): a copy of
// the backup's the replaced database had taken over waits for the
// transport servers' answers wherever it waits — in its shadow queue, or
// in its route's queue after an attempt held it there (a suspended
// queue, resumed since), or redirected. A TAKEN line settles its
// recipient in any queue (settleHandedByPredecessor); the claim's gate
// kept back only those listed in the shadow queue, so the others were
// delivered here too while the server the replaced database handed them
// to delivered them: twice.
func TestSR7RestoredHolderTakenCopyInRouteQueueWaits(t *testing.T) {
	for _, where := range []string{"route queue", "redirected"} {
		t.Run(where, func(t *testing.T) {
			var m *Message
			s := openRestored(t, func(s *Store) {
				m = msg(s, "a@example.org", "x@remote.example")
				m.Arrived = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
				m.State = Ready
				r := &m.Rcpts[0]
				r.Status, r.Primary, r.PrimaryAddr = Pending, "hub-a", "127.0.0.121:7501"
				r.ShadowID = m.ID.String() + "-" + primaryHash("hub-a") + "-000000000001"
				r.Queue = "mx:remote.example"
				if where == "redirected" {
					r.Queue, r.Redirect = "shadow:hub-a", "192.0.2.9:25"
				}
				if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
					t.Fatal(err)
				}
			})
			clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			var delivered atomic.Int32
			d := DelivererFunc(func(ctx context.Context, dm *Message, b []byte, rcpts []int) []Result {
				var out []Result
				for _, i := range rcpts {
					if dm.Rcpts[i].Addr == "x@remote.example" {
						delivered.Add(1)
					}
					out = append(out, Result{Rcpt: i, Outcome: RelayedOK, Queue: "mx:remote.example", Reply: "250 ok"})
				}
				return out
			})
			q := NewManager(s, d, ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Hour}})
			q.SetRestoredAskBound(30*time.Minute, []string{"hub-c"})
			bound := clk.Now().Add(30 * time.Minute)
			ctx, cancel := context.WithCancel(context.Background())
			t.Cleanup(func() { cancel(); q.Wait() })
			q.Start(ctx)
			waitFor(t, "the taken-over copy delivered or kept back", func() bool {
				got, _ := q.Message(m.ID)
				return delivered.Load() > 0 || got != nil && got.State == Ready && got.Rcpts[0].Status == Pending && !got.NextAttempt.Before(bound)
			})
			if n := delivered.Load(); n != 0 {
				t.Fatalf("the restored copy (%s) was delivered (%d) before every transport server said which copies of the replaced database it holds", where, n)
			}
			handed := m.ID.String() + "-" + primaryHash("hub-c") + "-0123456789ab"
			if fe, _, err := q.ShadowFinishedElsewhere("hub-c", []TakenDone{{ID: handed, Addr: "x@remote.example", Kind: TakenOver}}); err != nil || len(fe) != 1 {
				t.Fatalf("hub-c's TAKEN line: %+v, %v", fe, err)
			}
			q.RestoredAsked()
			got, err := q.Message(m.ID)
			if err == nil && got.Rcpts[0].Status != Relayed || err != nil && !errors.Is(err, ErrNotFound) {
				t.Fatalf("after hub-c's TAKEN line: %+v, %v; want x settled as hub-c's", got, err)
			}
			if n := delivered.Load(); n != 0 {
				t.Fatalf("x delivered here %d times; hub-c delivers it", n)
			}
		})
	}
}
