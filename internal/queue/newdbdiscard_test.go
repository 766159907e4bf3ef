package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-7 (siblings of the reconciliation fix): a primary back with a new transport
// database holds no record of mail accepted under the old one; whatever
// it says about an old copy's id — a reconciliation's "done" after a
// heartbeat already recorded the new id, or discards read in the very
// session whose id took the copies over — settles none of the copies
// taken over under the old id: each is the only copy left.
func TestNewDatabaseDiscardDropsNoCopyTakenUnderOld(t *testing.T) {
	for _, c := range []struct {
		name  string
		apply func(q *Manager, sid string) error
	}{
		{"heartbeat recorded the id, then the reconcile answer", func(q *Manager, sid string) error {
			if res, err := q.ShadowContact("hub-b", "db2", nil); err != nil || res.TakenOver != 1 {
				t.Fatalf("takeover: %+v %v", res, err)
			}
			_, err := q.ShadowPresented("hub-b", "db2", []string{sid})
			return err
		}},
		{"discards in the session that took over", func(q *Manager, sid string) error {
			_, err := q.ShadowContact("hub-b", "db2", []string{sid})
			return err
		}},
		{"presented with discards in the session that took over", func(q *Manager, sid string) error {
			_, err := q.ShadowPresented("hub-b", "db2", []string{sid})
			return err
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t)
			clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			q := NewManager(s, shadowing(&primaryDB{v: "db1"}, func(int) Outcome { return RelayedOK }, nil), ManagerConfig{Clock: clk})
			ctx, cancel := context.WithCancel(context.Background())
			t.Cleanup(func() { cancel(); q.Wait() })
			q.Start(ctx)
			m := msg(s, "a@example.org", "x@b.example")
			m.Arrived = clk.Now()
			q.Submit(ctx, m, []byte(body))
			waitFor(t, "the shadow copy", func() bool { got, _ := q.Message(m.ID); return got != nil && got.State == Shadow })
			got, _ := q.Message(m.ID)
			sid := got.Rcpts[0].ShadowID
			if sid == "" {
				t.Fatalf("no shadow id: %+v", got.Rcpts[0])
			}
			if err := c.apply(q, sid); err != nil {
				t.Fatal(err)
			}
			got, _ = q.Message(m.ID)
			if got == nil || got.Rcpts[0].Status != Pending {
				t.Fatalf("the new database's word about an old copy dropped the only copy left: %+v", got)
			}
		})
	}
}
