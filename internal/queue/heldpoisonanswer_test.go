package queue

import (
	"context"
	"slices"
	"testing"
)

// Q-2, SR-15: the move to the poison queue discards the message's copy
// (settlePoisonCopy: CopyOnRelease), as a suspend does; the answer to
// XQUERYHELD says so ("done"), not "held" — the holder would keep
// waiting on a copy the primary settled. A poison message whose copy
// stayed (its body here does not read whole: the copy is the sound one)
// is still held.
func TestQ2PoisonMessagesCopyAnsweredDoneToXQueryHeld(t *testing.T) {
	s := openTest(t)
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{})
	put := func(sid string, settled bool) {
		m := msg(s, "a@example.org", "x@example.test")
		m.State, m.ShadowServer, m.ShadowID, m.CopyOnRelease = Poison, "S", sid, settled
		if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
			t.Fatal(err)
		}
	}
	put("poison-settled", true)
	put("poison-kept", false)
	done, err := q.ShadowHeld("S", []string{"poison-settled", "poison-kept"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"poison-settled"}; !slices.Equal(done, want) {
		t.Fatalf("done = %v, want %v", done, want)
	}
}

// Q-2, SR-13: a part of a split message moved to the poison queue with
// its copy settled no longer needs the shared copy, as a suspended or
// quarantined part does not (siblingsUnderCopy): the other part's end
// writes the full discard then, and its partial discards name what the
// poison part has pending.
func TestQ2PoisonPartDoesNotKeepTheSharedCopy(t *testing.T) {
	s := openTest(t)
	mk := func(rcpt string, st State, settled bool) *Message {
		m := msg(s, "s@example.org", rcpt)
		m.State, m.OrgID, m.ShadowServer, m.ShadowID, m.CopyOnRelease = st, "org-p@example.org", "hub-a", "copy-p", settled
		return m
	}
	self, poison, kept := mk("a@c.example", Ready, false), mk("b@c.example", Poison, true), mk("c@c.example", Poison, false)
	err := s.Update(context.Background(), func(tx *Tx) error {
		for _, m := range []*Message{self, poison} {
			if err := tx.PutNew(m, []byte(body)); err != nil {
				return err
			}
		}
		if tx.copyNeededElsewhere(self.ID, self.OrgID, "hub-a", "copy-p") {
			t.Error("a poison part whose move settled its share keeps the shared copy")
		}
		if err := tx.PutNew(kept, []byte(body)); err != nil {
			return err
		}
		if !tx.copyNeededElsewhere(self.ID, self.OrgID, "hub-a", "copy-p") {
			t.Error("a poison part whose copy stayed (the sound one) does not keep it")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
