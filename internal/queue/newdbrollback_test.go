package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-7, SR-13: the rollback found of a primary's database (shadow list's
// WHY, RollbackNote) is that database's, as its failed heartbeats and
// takeover are: a primary that then presents a new database id starts
// afresh (newDatabaseTx), and its row names no rollback of the old one
// beside the new id.
func TestSR7NewDatabaseForgetsTheOldOnesRollback(t *testing.T) {
	for _, tc := range []struct {
		name    string
		present func(q *Manager, s *Store) error
	}{
		{"copy pushed", func(q *Manager, s *Store) error {
			_, err := q.SubmitShadowCopy(context.Background(), receiptCopy(s, "n@remote.example"), []byte(body), "hub-a", "127.0.0.1:25", "dbA2")
			return err
		}},
		{"XSHADOW reply of a session", func(q *Manager, _ *Store) error {
			_, err := q.ShadowPresented("hub-a", "dbA2", nil)
			return err
		}},
		{"discard query", func(q *Manager, _ *Store) error {
			_, err := q.ShadowContact("hub-a", "dbA2", nil)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			s := openTest(t)
			q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
			if stored, err := q.SubmitShadowCopy(ctx, receiptCopy(s, "x@remote.example"), []byte(body), "hub-a", "127.0.0.1:25", "dbA"); err != nil || !stored {
				t.Fatalf("copy on receipt: %v, %v", stored, err)
			}
			if _, _, err := q.ShadowMarkSeen("hub-a", "dbA", 5, q.ShadowMarkFloor("hub-a")); err != nil {
				t.Fatal(err)
			}
			if rb, _, err := q.ShadowMarkSeen("hub-a", "dbA", 2, q.ShadowMarkFloor("hub-a")); err != nil || !rb {
				t.Fatalf("mark 2 after 5: rolled back %v, %v", rb, err)
			}
			if _, ok := q.ShadowRollbacks()["hub-a"]; !ok {
				t.Fatal("no rollback note after the rollback")
			}
			clk.Advance(time.Minute)
			if err := tc.present(q, s); err != nil {
				t.Fatal(err)
			}
			if n, ok := q.ShadowRollbacks()["hub-a"]; ok {
				t.Errorf("the new database dbA2 keeps the old one's rollback note: %s", n.Why())
			}
		})
	}
}
