package queue

import (
	"testing"
)

// heldInDelivery is a taken-over message in delivery whose copy was made
// again on hub-c meanwhile (heldPrefix): the record does not name hub-c.
func heldInDelivery(t *testing.T) (*Manager, *Message) {
	t.Helper()
	q, s, clk := idleManager(t)
	m := takenReceiptCopies(t, q, s, clk, 1, "x@b.example", "y@c.example")[0]
	setState(t, s, m.ID, Active)
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
