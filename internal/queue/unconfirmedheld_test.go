package queue

import (
	"context"
	"strings"
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

	// rt19f F2: the copy on hub-b not answered in time (the mark names
	// hub-b since then), made on hub-c during the attempt; later hub-c
	// loses its database. The views name hub-c, the holder gone, and when
	// that was noticed — not hub-b and the push's time — and the count of
	// messages whose copy was lost is one.
	t.Run("holder of the copy made in delivery loses its database", func(t *testing.T) {
		q, s := primary()
		if _, _, err := q.ShadowHolderSeen("hub-c", "dbC"); err != nil {
			t.Fatal(err)
		}
		m := inDelivery(q, s, "hub-b")
		if err := q.MarkSingleCopy(m.ID, "hub-b", ""); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Hour)
		if err := q.ShadowRecopied(m.ID, "hub-c"); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Hour)
		noticed := clk.Now()
		lost, _, err := q.ShadowHolderSeen("hub-c", "dbC2")
		if err != nil || lost != 1 {
			t.Fatalf("ShadowHolderSeen: %d lost, %v; want 1", lost, err)
		}
		list, err := q.SingleCopies()
		if err != nil || len(list) != 1 {
			t.Fatalf("SingleCopies: %+v, %v; want the message", list, err)
		}
		if sc := list[0]; sc.Lost != "hub-c" || !sc.Since.Equal(noticed) {
			t.Fatalf("shadow single: copy lost on %q since %v; want hub-c since %v (hub-b only failed to answer a push)", sc.Lost, sc.Since, noticed)
		}
		if sc, ok := q.SingleCopyOf(m.ID); !ok || !strings.Contains(sc.String(), "its shadow copy on hub-c was lost") {
			t.Fatalf("message show: %q; want the copy on hub-c lost", sc.String())
		}
		if n := q.SingleCopyCount(); n != 1 {
			t.Fatalf("metric: %d; want 1", n)
		}
	})

	// The count of messages whose copy a new database lost leaves out a
	// message another holder keeps a copy of (the variant above): it is
	// not made again.
	t.Run("lost count leaves out a copy held elsewhere", func(t *testing.T) {
		q, s := primary()
		if _, _, err := q.ShadowHolderSeen("hub-c", "dbC"); err != nil {
			t.Fatal(err)
		}
		m := inDelivery(q, s, "hub-c")
		if err := q.MarkSingleCopy(m.ID, "hub-c", ""); err != nil {
			t.Fatal(err)
		}
		if err := q.ShadowRecopied(m.ID, "hub-d"); err != nil {
			t.Fatal(err)
		}
		if lost, _, err := q.ShadowHolderSeen("hub-c", "dbC2"); err != nil || lost != 0 {
			t.Fatalf("ShadowHolderSeen: %d lost, %v; want 0 (hub-d holds the copy)", lost, err)
		}
	})
}
