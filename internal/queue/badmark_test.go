package queue

import (
	"context"
	"errors"
	"testing"
	"time"

	"umbra/internal/clock"
)

// rt19 reread (mendq19b 5): a mark that does not parse (a value shorter
// than its time, a key that is no message id) is dropped by the commits
// that meet it, its count with it, and never stops one: the delete of
// the message's record drops its mark whatever it holds, and the new
// database id of a server named in marks passes over a key that names
// no message. (OPS-: the metric umbra_shadow_single_copy_messages)
func TestUnparsableSingleMarksDropped(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	ctx := context.Background()
	m := receiptCopy(s, "x@b.example")
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, func(tx *Tx) error { return tx.putMark(m.ID.Key(), []byte{1, 2, 3}) }); err != nil {
		t.Fatal(err)
	}
	if n := q.SingleCopyCount(); n != 1 {
		t.Fatalf("count %d with the bad mark, want 1", n)
	}
	// Submit hands the message to delivery at once: its attempt (which
	// does nothing) may still hold it; the removal waits it out, bounded.
	for deadline := time.Now().Add(10 * time.Second); ; {
		err := q.RemoveMessage(ctx, m.ID, false)
		if err == nil {
			break
		}
		if !errors.Is(err, ErrBusy) || time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := s.View(func(tx *Tx) error {
		if v := tx.tx.Bucket(bucketSingle).Get(m.ID.Key()); v != nil {
			t.Errorf("the removal left the mark %q", v)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n := q.SingleCopyCount(); n != 0 {
		t.Fatalf("count %d after the removal, want 0", n)
	}

	// A key that is not 8 bytes, naming a holder: forgetHeldOn must not
	// read it as a message id.
	if err := s.Update(ctx, func(tx *Tx) error {
		if err := tx.markSingleKind(m.ID, "", clk.Now(), []string{heldPrefix + "hub-x"}); err != nil {
			return err
		}
		v := append([]byte(nil), tx.tx.Bucket(bucketSingle).Get(m.ID.Key())...)
		if err := tx.dropMark(m.ID.Key()); err != nil {
			return err
		}
		return tx.putMark([]byte("bad"), v)
	}); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.Update(ctx, func(tx *Tx) (err error) { n, err = tx.forgetHeldOn("hub-x", clk.Now()); return err }); err != nil {
		t.Fatal(err)
	}
	if err := s.View(func(tx *Tx) error {
		if v := tx.tx.Bucket(bucketSingle).Get([]byte("bad")); v != nil {
			t.Errorf("the bad key's mark stays: %q", v)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if c := q.SingleCopyCount(); c != 0 || n != 0 {
		t.Fatalf("count %d, forgotten %d; want 0, 0", c, n)
	}
}
