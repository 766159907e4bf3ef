package queue

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"umbra/internal/clock"
)

// The discard owed for a copy an original carried, written in the
// commit that removes the original, is stamped by the manager's clock,
// as every other discard (its age orders and expires the notifications).
func TestCarriedDiscardUsesTheManagersClock(t *testing.T) {
	s := openTest(t)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }),
		ManagerConfig{Clock: clock.NewFake(at)})
	m := msg(s, "a@example.org", "b@remote.example")
	m.OrgID = "0123456789abcdef0123456789abcdef"
	ctx := context.Background()
	if err := s.Update(ctx, func(tx *Tx) error {
		if err := tx.Put(m); err != nil {
			return err
		}
		return tx.carryCopy(m.ID, "hubB", "0002-bb", "b@remote.example", "b@remote.example")
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, func(tx *Tx) error { return tx.Delete(m.ID) }); err != nil {
		t.Fatal(err)
	}
	var stamp time.Time
	if err := s.View(func(tx *Tx) error {
		v := tx.tx.Bucket(bucketDiscards).Get(discardKey("hubB", "0002-bb"))
		if len(v) != 8 {
			t.Fatalf("no discard owed for the carried copy: %x", v)
		}
		stamp = time.Unix(0, int64(binary.BigEndian.Uint64(v))).UTC()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !stamp.Equal(at) {
		t.Errorf("discard stamped %v, want the manager's clock %v", stamp, at)
	}
}
