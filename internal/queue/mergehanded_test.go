package queue

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"umbra/internal/orgid"
)

// SR-6 (shadow28 item 4): a copy kept here for hub-x — a recipient taken
// over from hub-p and handed to hub-x, with its handed note for hub-p —
// is merged into the original hub-x relays here (mergeReceiptCopy): the
// copy is settled there, hub-x's discard of it settles nothing any
// more, and the merge's commit deletes the note. Before, it stayed
// until the pruning, a note no discard would ever turn.
func TestMergedHandedCopyDropsItsNote(t *testing.T) {
	s := openTest(t)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	org := orgid.New()
	c := msg(s, "a@example.org", "x@b.example")
	c.State, c.OrgID = Shadow, org
	c.Rcpts[0].Status, c.Rcpts[0].Primary, c.Rcpts[0].ShadowID, c.Rcpts[0].Queue = Shadowed, "hub-x", org, "shadow:hub-x"
	o := msg(s, "a@example.org", "x@b.example")
	o.State, o.OrgID, o.ShadowServer, o.ShadowID = Ready, org, "hub-x", "0001-x"
	var at [8]byte
	binary.BigEndian.PutUint64(at[:], uint64(nanos(now)))
	ctx := context.Background()
	if err := s.Update(ctx, func(tx *Tx) error {
		if err := tx.Put(c); err != nil {
			return err
		}
		return tx.putHanded("hub-x", org, "x@b.example", "dbP", "P-1", "x@b.example", "hub-p", at[:])
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, func(tx *Tx) error {
		if err := tx.Put(o); err != nil {
			return err
		}
		gone, err := tx.mergeReceiptCopy(o, now)
		if err == nil && len(gone) != 1 {
			t.Fatalf("merged %d copies; want the one kept for hub-x", len(gone))
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	s.View(func(tx *Tx) error {
		r := Recipient{Addr: "x@b.example", Primary: "hub-x", ShadowID: org}
		if notes := tx.handedNotes(&r); len(notes) != 0 {
			t.Fatalf("handed notes after the merge: %+v; want none", notes)
		}
		return nil
	})
}
