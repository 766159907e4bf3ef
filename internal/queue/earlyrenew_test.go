package queue

import (
	"context"
	"encoding/binary"
	"testing"
	"time"
)

// SR-6 (shadow28 item 4): a copy kept here for X — a copy taken over
// from P and handed to X, with its handed note for P — is in delivery
// when X fails its heartbeats: the takeover is kept aside and applied
// by the commit that ends the attempt. That takeover renews the note
// (renewHanded) as a takeover of a copy not in delivery does: the note,
// written at the hand-on, would otherwise be pruned with the copy's
// own expiry, and P, back with its database, sent a second failure DSN.
func TestEarlyTakeoverRenewsHandedNote(t *testing.T) {
	s := openTest(t)
	handedAt := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	takenAt := handedAt.Add(40 * time.Hour)
	m := msg(s, "a@example.org", "x@b.example")
	m.State = Active
	m.Rcpts[0].Status, m.Rcpts[0].Primary, m.Rcpts[0].ShadowID, m.Rcpts[0].Queue = Shadowed, "hub-x", "X-1", "shadow:hub-x"
	var at [8]byte
	binary.BigEndian.PutUint64(at[:], uint64(nanos(handedAt)))
	ctx := context.Background()
	if err := s.Update(ctx, func(tx *Tx) error {
		if err := tx.Put(m); err != nil {
			return err
		}
		if err := tx.putHanded("hub-x", "X-1", "x@b.example", "dbP", "P-1", "x@b.example", "hub-p", at[:]); err != nil {
			return err
		}
		return tx.addEarlyTakeover(m.ID, "hub-x", takenAt, takenValue("dbX", true))
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, func(tx *Tx) error {
		got, err := tx.Get(m.ID)
		if err != nil {
			return err
		}
		got.State = Ready
		if took, err := applyEarlyTakeovers(tx, got, nil); err != nil || !took {
			t.Fatalf("took %v, %v", took, err)
		}
		return tx.Put(got)
	}); err != nil {
		t.Fatal(err)
	}
	s.View(func(tx *Tx) error {
		got, _ := tx.Get(m.ID)
		notes := tx.handedNotes(&got.Rcpts[0])
		if len(notes) != 1 {
			t.Fatalf("handed notes %+v; want the one for hub-p", notes)
		}
		if when := time.Unix(0, int64(binary.BigEndian.Uint64(notes[0].at))); !when.Equal(takenAt) {
			t.Fatalf("the handed note's time %v; want the takeover's %v (renewed)", when, takenAt)
		}
		return nil
	})
}
