package queue

import (
	"bytes"
	"context"
	"testing"
	"time"
)

// SR-15: a discard notification owed anew under the same key within one
// tick of the clock — even in the transaction whose forgetting deleted
// the entry just before — is written with another value than the one
// sent, so the forgetting of the sent one neither deletes nor hides it;
// the value stays the time it was written otherwise (its age prunes it).
func TestSR15NoteOwedAnewKeepsApartFromTheOneSent(t *testing.T) {
	s := openTest(t)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	read := func() (v []byte) {
		_ = s.View(func(tx *Tx) error {
			v = bytes.Clone(tx.tx.Bucket(bucketDiscards).Get(discardKey("edge", "0001-aa")))
			return nil
		})
		return v
	}
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.AddDiscard("edge", "0001-aa", now) }); err != nil {
		t.Fatal(err)
	}
	sent := read()
	// Written again over itself, at the same instant.
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.AddDiscard("edge", "0001-aa", now) }); err != nil {
		t.Fatal(err)
	}
	again := read()
	if bytes.Equal(again, sent) {
		t.Fatalf("rewritten at the same instant with the value sent: %x", sent)
	}
	// Deleted (the forgetting) and written anew in one transaction.
	if err := s.Update(context.Background(), func(tx *Tx) error {
		if err := tx.tx.Bucket(bucketDiscards).Delete(discardKey("edge", "0001-aa")); err != nil {
			return err
		}
		tx.forgotNote(false, discardKey("edge", "0001-aa"), again) // as forgetSent's deletion does
		return tx.AddDiscard("edge", "0001-aa", now)
	}); err != nil {
		t.Fatal(err)
	}
	if v := read(); bytes.Equal(v, again) || bytes.Equal(v, sent) {
		t.Fatalf("written anew after its deletion with a value sent before: %x", v)
	}
	// A later write, with nothing to keep apart from, is its time.
	later := now.Add(time.Minute)
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.AddDiscard("edge", "0003-cc", later) }); err != nil {
		t.Fatal(err)
	}
	_ = s.View(func(tx *Tx) error {
		if v := tx.tx.Bucket(bucketDiscards).Get(discardKey("edge", "0003-cc")); !bytes.Equal(v, tx.noteStamp(false, nil, nil, later)) {
			t.Errorf("a fresh notification stamped %x, want its time", v)
		}
		return nil
	})
	// Partial notifications keep apart the same way.
	pread := func() (v []byte) {
		_ = s.View(func(tx *Tx) error {
			v = bytes.Clone(tx.tx.Bucket(bucketPartial).Get(partialKey("edge", "0002-bb", "x@example.net")))
			return nil
		})
		return v
	}
	for range 2 {
		if err := s.Update(context.Background(), func(tx *Tx) error {
			return tx.AddPartialDiscard("edge", "0002-bb", []string{"x@example.net"}, now)
		}); err != nil {
			t.Fatal(err)
		}
	}
	p1 := pread()
	if err := s.Update(context.Background(), func(tx *Tx) error {
		if err := tx.tx.Bucket(bucketPartial).Delete(partialKey("edge", "0002-bb", "x@example.net")); err != nil {
			return err
		}
		tx.forgotNote(true, partialKey("edge", "0002-bb", "x@example.net"), p1)
		return tx.AddPartialDiscard("edge", "0002-bb", []string{"x@example.net"}, now)
	}); err != nil {
		t.Fatal(err)
	}
	if p2 := pread(); bytes.Equal(p1, p2) {
		t.Fatalf("partial notification written anew with the value sent: %x", p1)
	}
}
