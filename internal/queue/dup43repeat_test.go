package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// heldCopiesOf returns the records this server keeps for the copy on
// receipt named org for hub-a.
func heldCopiesOf(t *testing.T, q *Manager, org string) []ID {
	t.Helper()
	var ids []ID
	if err := q.store.View(func(tx *Tx) error {
		ids = tx.receiptCopies("hub-a", org)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return ids
}

// SR-17 (dup43): a primary whose push of a copy on receipt was cut after
// its whole one-trip write (the holder stored it, the reply never came
// back) pushes the same copy again — its link's second session, the
// next try — and meanwhile the message left the primary, whose one
// discard for this server was fetched and applied to the first copy.
// The repeat comes after the discard was consumed: kept, it is a copy
// the primary owes no discard for (it left before the copy was made),
// held until the hourly XQUERYHELD sweep, taken over and delivered a
// second time if the primary dies. The repeat carries its commit's own
// mark (6), at most the mark presented with the discard (7): the same
// copy, answered 250 and not kept, however many times it comes. A copy
// of the org id committed after the discard (mark 9) is a new one and
// is kept, and the primary's discard for it settles it.
func TestSR17CopyPushedAgainAfterItsDiscardNotKept(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	m := receiptCopy(s, "x@b.example")
	if !pushMarked(t, q, m, 6) {
		t.Fatal("the first push was not kept")
	}
	if _, _, err := q.ShadowMarkSeen("hub-a", "dbA", 7, q.ShadowMarkFloor("hub-a")); err != nil {
		t.Fatal(err)
	}
	if n, err := q.ShadowContactMarked("hub-a", "dbA", 7, []string{m.OrgID}); err != nil || n.Discarded != 1 {
		t.Fatalf("the discard: %+v, %v", n, err)
	}
	if ids := heldCopiesOf(t, q, m.OrgID); len(ids) != 0 {
		t.Fatalf("the discard left %v held", ids)
	}
	for i := range 2 {
		clk.Advance(45 * time.Millisecond)
		again := receiptCopy(s, "x@b.example")
		again.OrgID = m.OrgID
		if pushMarked(t, q, again, 6) {
			t.Fatalf("push %d of the same copy (mark 6) after its discard (mark 7) was kept: a second copy the primary owes no discard for", i+2)
		}
		if ids := heldCopiesOf(t, q, m.OrgID); len(ids) != 0 {
			t.Fatalf("push %d: %v held after the discard", i+2, ids)
		}
	}
	later := receiptCopy(s, "x@b.example")
	later.OrgID = m.OrgID
	if !pushMarked(t, q, later, 9) {
		t.Fatal("a copy committed after the discard (mark 9 > 7) was not kept")
	}
	if n, err := q.ShadowContactMarked("hub-a", "dbA", 9, []string{m.OrgID}); err != nil || n.Discarded != 1 {
		t.Fatalf("the new copy's discard: %+v, %v", n, err)
	}
	if ids := heldCopiesOf(t, q, m.OrgID); len(ids) != 0 {
		t.Fatalf("the new copy's discard left %v held", ids)
	}
}

// The same for partial discards (dup43's sibling): the primary finished
// x@ and y@ apart and handed a partial discard for each, which settled
// the copy held here (its record left: nothing of it is pending). The
// repeat of that copy's push, still on its way, must not be kept with
// them shadowed again — taken over, they would be sent a second time.
func TestSR17CopyPushedAgainAfterPartialDiscardsNotKept(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	m := receiptCopy(s, "x@b.example", "y@b.example")
	if !pushMarked(t, q, m, 6) {
		t.Fatal("the first push was not kept")
	}
	if _, _, err := q.ShadowMarkSeen("hub-a", "dbA", 7, q.ShadowMarkFloor("hub-a")); err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{"x@b.example", "y@b.example"} {
		line := PartialDiscard{ID: m.OrgID, Addr: addr}.Wire()
		if n, err := q.ShadowContactMarked("hub-a", "dbA", 7, []string{line}); err != nil || n.Discarded != 1 {
			t.Fatalf("the partial discard of %s: %+v, %v", addr, n, err)
		}
	}
	if ids := heldCopiesOf(t, q, m.OrgID); len(ids) != 0 {
		t.Fatalf("the partial discards left %v held", ids)
	}
	clk.Advance(45 * time.Millisecond)
	again := receiptCopy(s, "x@b.example", "y@b.example")
	again.OrgID = m.OrgID
	if pushMarked(t, q, again, 6) {
		t.Fatal("the same copy (mark 6), pushed again after its partial discards (mark 7), was kept")
	}
	if ids := heldCopiesOf(t, q, m.OrgID); len(ids) != 0 {
		t.Fatalf("%v held after the partial discards", ids)
	}
}
