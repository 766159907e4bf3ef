package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-17, SR-15 (shadow45 item 1): the paths that used to wake a shadow
// server's long poll by hand after their own commit — an operator's
// hold and removal, a poison message given to its copy's holder, a
// message quarantined on receipt — wake it now through the commit that
// writes the notification (owedsignal.go), and only through it: each
// case checks that something is owed to hub-b, and that its waiting
// long poll was woken by the time the call returned.
func TestSR17OwedWakeNeedsNoHandSignal(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	deferred := DelivererFunc(func(_ context.Context, _ *Message, _ []byte, rcpts []int) []Result {
		out := make([]Result, 0, len(rcpts))
		for _, i := range rcpts {
			out = append(out, Result{Rcpt: i, Outcome: Deferred, Queue: "mx:b.example", Reply: "451 4.4.1 try later"})
		}
		return out
	})
	// queued submits a message whose copy is on hub-b and waits
	// (bounded) until its first attempt left it Ready.
	queued := func(t *testing.T, q *Manager, s *Store) *Message {
		m := receiptCopy(s, "x@b.example")
		m.ShadowServer, m.ShadowID = "hub-b", m.OrgID
		if err := q.Submit(ctx, m, []byte(body)); err != nil {
			t.Fatal(err)
		}
		for i := 0; ; i++ {
			if o, err := q.Message(m.ID); err == nil && o.State == Ready && o.Attempts > 0 {
				return o
			}
			if i == 500 {
				t.Fatal("the message was never attempted")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	discardOwed := func(s *Store, id string) bool {
		var ds []string
		s.View(func(tx *Tx) error { ds = tx.Discards("hub-b", 10); return nil })
		return len(ds) == 1 && ds[0] == id
	}
	for _, c := range []struct {
		name string
		act  func(t *testing.T, q *Manager, s *Store, arm func()) (owed bool)
	}{
		{"held by the operator (settleHeldCopy)", func(t *testing.T, q *Manager, s *Store, arm func()) bool {
			m := queued(t, q, s)
			arm()
			if err := q.SuspendMessage(ctx, m.ID); err != nil {
				t.Fatal(err)
			}
			return discardOwed(s, m.OrgID)
		}},
		{"removed by the operator (addCopyDiscard)", func(t *testing.T, q *Manager, s *Store, arm func()) bool {
			m := queued(t, q, s)
			arm()
			if err := q.RemoveMessage(ctx, m.ID, false); err != nil {
				t.Fatal(err)
			}
			return discardOwed(s, m.OrgID)
		}},
		{"poison given to its copy's holder (handBackTx)", func(t *testing.T, q *Manager, s *Store, arm func()) bool {
			m := queued(t, q, s)
			arm()
			q.poisonUnreadable(m, "body unreadable: test")
			var hs []handBack
			s.View(func(tx *Tx) error { hs, _ = tx.handBacks("hub-b", 10); return nil })
			return len(hs) == 1 && hs[0].sid == m.OrgID
		}},
		{"quarantined on receipt (Submit)", func(t *testing.T, q *Manager, s *Store, arm func()) bool {
			arm()
			m := receiptCopy(s, "x@b.example")
			m.ShadowServer, m.ShadowID, m.Quarantine = "hub-b", m.OrgID, "test: kept back"
			if err := q.Submit(ctx, m, []byte(body)); err != nil {
				t.Fatal(err)
			}
			return discardOwed(s, m.OrgID)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t)
			q := NewManager(s, deferred, ManagerConfig{Clock: clk})
			var poll <-chan struct{}
			arm := func() { poll = q.DiscardSignal("hub-b") } // hub-b's session waits (XQUERYDISCARD WAIT=)
			if !c.act(t, q, s, arm) {
				t.Fatal("nothing owed to hub-b: the test proves nothing")
			}
			if !woken(poll) {
				t.Fatal("hub-b's waiting long poll was not woken by the commit that owes it a notification")
			}
		})
	}
}
