package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-6 after `umbra db restore` of a holder (finalshadow40): while the
// restored database waits for the transport servers' answers, every
// copy of the backup's held for a primary is told BUSY to it — a copy
// taken over and held in its route's queue too (a suspended queue), not
// only one listed in the shadow queue. Unlisted, the primary sent its
// original while the server the replaced database handed the copy to
// delivered it: twice.
func TestSR6RestoredHolderBusyForTakenCopyInRouteQueue(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var sid string
	r := openRestored(t, func(s *Store) {
		m := msg(s, "a@example.org", "x@remote.example")
		m.State = Ready
		sid = m.ID.String() + "-" + primaryHash("hub-a") + "-000000000001"
		rc := &m.Rcpts[0]
		rc.Status, rc.Queue, rc.Primary, rc.PrimaryAddr, rc.ShadowID = Pending, "mx:remote.example", "hub-a", "127.0.0.121:7501", sid
		if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
			t.Fatal(err)
		}
	})
	h := NewManager(r, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	if _, err := h.ShadowPresented("hub-a", "dbA", nil); err != nil {
		t.Fatal(err)
	}
	h.SetRestoredAskBound(time.Hour, []string{"hub-a", "hub-c"})
	got := h.TakenBusyFor("dbA", 10)
	if len(got) != 1 || got[0].ID != sid || got[0].Kind != TakenBusy {
		t.Fatalf("told hub-a %+v while the answers are awaited; want %s BUSY", got, sid)
	}
}
