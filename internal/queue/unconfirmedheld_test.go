package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// rt19f-F1: a copy on receipt pushed to hub-b went unconfirmed (hub-b
// stopped past the bound) and was made on hub-c within the receipt,
// while the message was already in delivery (its route hangs). hub-b
// stores the pushed copy once it runs again. The commit that records the
// copy on hub-c must write hub-b's discard: otherwise, with this server's
// disk lost before the attempt ends, hub-b and hub-c both take the
// message over and it is delivered twice. The variant: a confirmed copy
// on hub-d (made in delivery) and an unconfirmed push on hub-c, the
// record naming hub-c; hub-c loses its database: the copy on hub-d still
// holds the message, no third copy is made. (SR-3, SR-17)
func TestUnconfirmedPushDiscardedWhenCopiedElsewhereInDelivery(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	nop := DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil })
	// The route hangs: every attempt waits until the test ends, so a
	// submitted message stays in delivery (Active) as in the finding.
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })
	hung := DelivererFunc(func(ctx context.Context, _ *Message, _ []byte, _ []int) []Result {
		select {
		case <-hang:
		case <-ctx.Done():
		}
		return nil
	})
	primary := func() (*Manager, *Store) {
		s := openTest(t)
		return NewManager(s, hung, ManagerConfig{Clock: clk}), s
	}
	// inDelivery submits a message whose commit names server (the copy on
	// receipt) and waits (bounded) until an attempt that hangs has it.
	inDelivery := func(q *Manager, s *Store, server string) *Message {
		m := receiptCopy(s, "x@b.example")
		m.ShadowServer, m.ShadowID = server, m.OrgID
		if err := q.Submit(ctx, m, []byte(body)); err != nil {
			t.Fatal(err)
		}
		for i := 0; ; i++ {
			if o, err := q.Message(m.ID); err == nil && o.State == Active {
				break
			}
			if i == 500 {
				t.Fatal("the message never went into delivery")
			}
			time.Sleep(10 * time.Millisecond)
		}
		return m
	}
	discards := func(s *Store, server string) []string {
		var ds []string
		s.View(func(tx *Tx) error { ds = tx.Discards(server, 10); return nil })
		return ds
	}
	// kept counts the copies a shadow server holds for hub-a once it has
	// applied what hub-a owes it: each would be taken over and delivered
	// when hub-a is lost.
	kept := func(s *Store, server string, m *Message) int {
		sq := NewManager(openTest(t), nop, ManagerConfig{Clock: clk})
		cp := *m
		cp.ID = 0
		cp.Rcpts = append([]Recipient(nil), m.Rcpts...)
		if _, err := sq.SubmitShadowCopy(ctx, &cp, []byte(body), "hub-a", "127.0.0.1:25", "dbA"); err != nil {
			t.Fatal(err)
		}
		if _, err := sq.ApplyDiscards("hub-a", discards(s, server)); err != nil {
			t.Fatal(err)
		}
		c, err := sq.ShadowCopies()
		if err != nil {
			t.Fatal(err)
		}
		return c["hub-a"].Held + c["hub-a"].TakenOver
	}

	t.Run("unconfirmed push then copy in delivery", func(t *testing.T) {
		q, s := primary()
		m := inDelivery(q, s, "hub-b")
		if err := q.MarkSingleCopy(m.ID, "hub-b", ""); err != nil { // not answered in time
			t.Fatal(err)
		}
		if err := q.ShadowRecopied(m.ID, "hub-c"); err != nil { // the next shadow server
			t.Fatal(err)
		}
		if ds := discards(s, "hub-b"); len(ds) != 1 || ds[0] != m.OrgID {
			t.Fatalf("discards for hub-b after the copy on hub-c %v; want %s in the same commit", ds, m.OrgID)
		}
		if ds := discards(s, "hub-c"); len(ds) != 0 {
			t.Fatalf("discards for hub-c %v; want none (it holds the copy)", ds)
		}
		if n := kept(s, "hub-b", m) + kept(s, "hub-c", m); n != 1 {
			t.Fatalf("%d shadow servers keep the copy; want 1 (each would deliver it)", n)
		}
	})

	t.Run("holder of an unconfirmed push loses its database", func(t *testing.T) {
		q, s := primary()
		if _, _, err := q.ShadowHolderSeen("hub-c", "dbC"); err != nil {
			t.Fatal(err)
		}
		m := inDelivery(q, s, "hub-c")
		if err := q.MarkSingleCopy(m.ID, "hub-c", ""); err != nil {
			t.Fatal(err)
		}
		if err := q.ShadowRecopied(m.ID, "hub-d"); err != nil { // confirmed
			t.Fatal(err)
		}
		if _, _, err := q.ShadowHolderSeen("hub-c", "dbC2"); err != nil { // hub-c wiped
			t.Fatal(err)
		}
		if sc, ok := q.SingleCopyOf(m.ID); !ok || sc.Held != "hub-d" {
			t.Fatalf("mark %+v (%v) after hub-c's new database; want hub-d still holding the copy", sc, ok)
		}
		if n := q.SingleCopyCount(); n != 0 {
			t.Fatalf("counted held by this server only: %d (hub-d holds it)", n)
		}
		if _, _, ok, err := q.RecopyCandidate(m.ID); err != nil || ok {
			t.Fatalf("a third copy would be made: candidate %v, %v", ok, err)
		}
		if ds := discards(s, "hub-d"); len(ds) != 0 {
			t.Fatalf("discards for hub-d %v; want none (it holds the copy)", ds)
		}
	})
}
