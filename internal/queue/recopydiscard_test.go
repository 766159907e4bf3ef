package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// The primary's side of a copy pushed again to a server that still has
// a discard of that copy to fetch (rt19f F1's other side). hub-b hung
// while the copy of hub-a's message was made again, the copy went to
// hub-d, and hub-b was owed the discard of the abandoned push
// (nameCopyHolder). hub-b has not fetched it when hub-d loses its copy
// and the next pass pushes the copy to hub-b: hub-b stores it, and its
// next discard query — which a kept copy makes at once (markUrgent) —
// must not bring the old discard, or the copy just made is dropped while
// hub-a names hub-b: losing hub-a would lose the message. The commit that
// raises the mark before the push withdraws it; hub-b stays a server
// that may hold the copy, so a push that fails still ends with its
// discard once the copy is made elsewhere. (SR-3, SR-17)
func TestRecopyWithdrawsUnfetchedDiscardOfEarlierPush(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	nop := DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil })
	s := openTest(t)
	q := NewManager(s, nop, ManagerConfig{Clock: clk}) // not started: the message waits, out of delivery
	m := receiptCopy(s, "x@b.example")
	m.ShadowServer, m.ShadowID = "hub-c", m.OrgID
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	if err := q.MarkSingleCopy(m.ID, "hub-c", ""); err != nil { // hub-c lost it
		t.Fatal(err)
	}
	if _, err := q.RecopyPushing(m.ID, "hub-b"); err != nil { // hub-b hung
		t.Fatal(err)
	}
	if err := q.ShadowRecopiedOrg(m.ID, m.OrgID, "hub-d"); err != nil {
		t.Fatal(err)
	}
	owed := func(server string) []string {
		var ds []string
		s.View(func(tx *Tx) error { ds = tx.Discards(server, 10); return nil })
		return ds
	}
	if d := owed("hub-b"); len(d) != 1 || d[0] != m.OrgID {
		t.Fatalf("hub-b owed %v after the copy was made on hub-d; want the copy's discard", d)
	}
	if err := q.MarkSingleCopy(m.ID, "hub-d", ""); err != nil { // hub-d lost it
		t.Fatal(err)
	}
	cand, b, ok, err := q.RecopyCandidate(m.ID)
	if err != nil || !ok {
		t.Fatalf("RecopyCandidate: %v, %v", ok, err)
	}
	if cand.HolderMark, err = recopyPushing(q, m.ID, "hub-b"); err != nil {
		t.Fatal(err)
	}
	// hub-b, a real queue, stores the push and then fetches what hub-a owes it.
	hb := NewManager(openTest(t), nop, ManagerConfig{Clock: clk})
	cand.ID = 0
	res, err := hb.SubmitShadowCopiesMarked(ctx, []ShadowCopy{{M: cand, Body: b}}, "hub-a", "127.0.0.1:25", "dbA", cand.HolderMark)
	if err != nil || !res[0].Stored {
		t.Fatalf("hub-b's store: %+v, %v", res, err)
	}
	if _, err := hb.ApplyDiscards("hub-a", owed("hub-b")); err != nil {
		t.Fatal(err)
	}
	if err := q.ShadowRecopiedOrg(m.ID, m.OrgID, "hub-b"); err != nil {
		t.Fatal(err)
	}
	c, err := hb.ShadowCopies()
	if err != nil {
		t.Fatal(err)
	}
	if c["hub-a"].Held != 1 {
		t.Fatalf("hub-b holds %+v for hub-a; want the copy just pushed: an old discard dropped it while hub-a names hub-b", c)
	}
	if got, _ := q.Message(m.ID); got == nil || got.ShadowServer != "hub-b" {
		t.Fatalf("hub-a's record = %+v; want it naming hub-b", got)
	}
}

// recopyPushing is the commit a pass makes before it pushes message id's
// copy to server (delivery recopy.go).
func recopyPushing(q *Manager, id ID, server string) (uint64, error) {
	return q.RecopyPushing(id, server)
}
