package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// idleManager is a manager over a fresh store with a fake clock, not
// started, whose deliverer delivers nothing.
func idleManager(t *testing.T) (*Manager, *Store, *clock.Fake) {
	t.Helper()
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	return q, s, clk
}

// takenReceiptCopies stores n copies on receipt from hub-a (database
// dbA), each for rcpts, then fails hub-a's heartbeats three times: the
// copies are taken over, each held by this server only.
func takenReceiptCopies(t *testing.T, q *Manager, s *Store, clk *clock.Fake, n int, rcpts ...string) []*Message {
	t.Helper()
	var ms []*Message
	for i := 0; i < n; i++ {
		m := receiptCopy(s, rcpts...)
		if _, err := q.SubmitShadowCopy(context.Background(), m, []byte(body), "hub-a", "127.0.0.1:25", "dbA"); err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	for i := 0; i < 3; i++ {
		if _, _, err := q.ShadowHeartbeatFailed("hub-a", clk.Now(), 0, 3, "timeout"); err != nil {
			t.Fatal(err)
		}
	}
	return ms
}

// setState writes st into the record of id, as an attempt's claim (or
// its end) does.
func setState(t *testing.T, s *Store, id ID, st State) {
	t.Helper()
	if err := s.Update(context.Background(), func(tx *Tx) error {
		o, err := tx.Get(id)
		if err != nil {
			return err
		}
		o.State = st
		return tx.Put(o)
	}); err != nil {
		t.Fatal(err)
	}
}
