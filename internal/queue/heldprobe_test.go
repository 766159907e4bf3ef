package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// heldInDelivery is a taken-over message in delivery whose copy was made
// again on hub-c meanwhile (heldPrefix): the record does not name hub-c.
func heldInDelivery(t *testing.T) (*Manager, *Message) {
	t.Helper()
	ctx := context.Background()
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	m := receiptCopy(s, "x@b.example", "y@c.example")
	if _, err := q.SubmitShadowCopy(ctx, m, []byte(body), "hub-a", "127.0.0.1:25", "dbA"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, _, err := q.ShadowHeartbeatFailed("hub-a", clk.Now(), 0, 3, "timeout"); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Update(ctx, func(tx *Tx) error {
		o, err := tx.Get(m.ID)
		if err != nil {
			return err
		}
		o.State = Active
		return tx.Put(o)
	}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := q.ShadowHolderSeen("hub-c", "dbC"); err != nil {
		t.Fatal(err)
	}
	if err := q.ShadowRecopied(m.ID, "hub-c"); err != nil {
		t.Fatal(err)
	}
	if sc, ok := q.SingleCopyOf(m.ID); !ok || sc.Held != "hub-c" {
		t.Fatalf("mark %+v, %v; want hub-c holding the copy made in delivery", sc, ok)
	}
	return q, m
}

// rt19 fixa19 item 1 (SR-7, SR-15): the server holding a copy made again
// while its message is in delivery is one of the servers probed: its new
// database id is found during the attempt, not after it, when a loss of
// this server's disk would lose the message.
func TestHolderOfCopyMadeInDeliveryIsProbed(t *testing.T) {
	q, _ := heldInDelivery(t)
	hs, err := q.ShadowHolders()
	if err != nil {
		t.Fatal(err)
	}
	if hs["hub-c"] != 1 {
		t.Fatalf("holders probed: %v; want hub-c with the copy made while in delivery", hs)
	}
}

// rt19 fixa19 item 1 (SR-15): the copy made again while its message is
// in delivery, removed by its holder's operator (message remove --force
// there, told at the probe under the org id), makes the message held by
// this server only at once, and its copy is made again in delivery.
func TestHeldCopyRemovedByHolderMarksSingle(t *testing.T) {
	q, m := heldInDelivery(t)
	n, err := q.ShadowCopiesDropped("hub-c", []string{m.OrgID})
	if err != nil || n != 1 {
		t.Fatalf("dropped: %d, %v; want the message whose copy was made on hub-c in delivery", n, err)
	}
	sc, ok := q.SingleCopyOf(m.ID)
	if !ok || sc.Held != "" || sc.How != HowRemoved || q.SingleCopyCount() != 1 {
		t.Fatalf("mark %+v, %v, %d counted; want held by this server only, removed on hub-c", sc, ok, q.SingleCopyCount())
	}
	if _, _, ok, err := q.RecopyCandidate(m.ID); err != nil || !ok {
		t.Fatalf("its copy is not made again while in delivery: %v, %v", ok, err)
	}
	// Told twice (a crash before the holder forgot its note): once.
	if n, err := q.ShadowCopiesDropped("hub-c", []string{m.OrgID}); err != nil || n != 0 {
		t.Fatalf("told again: %d, %v", n, err)
	}
	// A damaged copy on hub-c, which one unknown: the held one counts.
	q2, m2 := heldInDelivery(t)
	if n, err := q2.ShadowCopiesDropped("hub-c", []string{DroppedEvery}); err != nil || n != 1 {
		t.Fatalf("damaged note: %d, %v", n, err)
	}
	if sc, ok := q2.SingleCopyOf(m2.ID); !ok || sc.Held != "" || sc.How != HowDamaged {
		t.Fatalf("mark after the damaged note %+v, %v", sc, ok)
	}
}
