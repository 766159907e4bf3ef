package queue

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-7 (shadow31 S4): a release before shadow31 kept a primary's marks by the
// spelling presented — "Hub-A." (its push sessions, server.name as
// written) and "hub-a" (this server's heartbeats: the topology's
// spelling). "hub-a" is also the new key (mailaddr.NameKey), so after the
// upgrade primaryMark reads it alone and ignores the higher mark kept
// under "Hub-A." — though the schema says a release before's spellings
// are read, the highest of them counting. A primary put back from an
// older copy of its database presenting a mark between the two is not
// caught, and its copies are asked about and dropped.
func TestSR7MigratedMarksHighestSpellingCounts(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	ctx := context.Background()
	for _, mark := range []uint64{3, 7} {
		res, err := q.SubmitShadowCopiesMarked(ctx, []ShadowCopy{{M: receiptCopy(s, "x@b.example"), Body: MemBody([]byte(body))}}, "Hub-A.", "127.0.0.1:25", "dbA", mark)
		if err != nil || !res[0].Stored {
			t.Fatalf("copy: %+v, %v", res, err)
		}
	}
	// As the release before left them: one record per spelling.
	put := func(k string, mark uint64) {
		v := make([]byte, 8, 8+3)
		binary.BigEndian.PutUint64(v, mark)
		if err := s.Update(ctx, func(tx *Tx) error {
			return tx.tx.Bucket(bucketPrimaryMarks).Put([]byte(k), append(v, "dbA"...))
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Update(ctx, func(tx *Tx) error {
		b := tx.tx.Bucket(bucketPrimaryMarks)
		var ks [][]byte
		_ = b.ForEach(func(k, _ []byte) error { ks = append(ks, append([]byte(nil), k...)); return nil })
		for _, k := range ks {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	put("Hub-A.", 9) // its pushes
	put("hub-a", 5)  // this server's heartbeats
	f := q.ShadowMarkFloor("Hub-A.")
	rb, taken, err := q.ShadowMarkSeen("Hub-A.", "dbA", 7, f)
	if err != nil || !rb {
		t.Fatalf("floor after the upgrade %+v: the mark 9 kept under Hub-A. by the release before is ignored (hub-a's 5 read alone); mark 7 presented: rolled back %v, taken %d, %v — want a rollback caught", f, rb, taken, err)
	}
}

// SR-7 (shadow31 S4): ShadowMarkFloors, the floors a push session reads at its
// EHLO, keeps the first old spelling in key order when the new key is
// absent, not the highest as primaryMark does: "HUB-A" (5) sorts before
// "Hub-A." (9), so the floor is 5 and a primary put back to mark 7
// presenting it in its push session's XSHADOW is not caught.
func TestSR7MigratedMarkFloorsHighestSpellingCounts(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	ctx := context.Background()
	put := func(k string, mark uint64) {
		v := make([]byte, 8, 8+3)
		binary.BigEndian.PutUint64(v, mark)
		if err := s.Update(ctx, func(tx *Tx) error {
			return tx.tx.Bucket(bucketPrimaryMarks).Put([]byte(k), append(v, "dbA"...))
		}); err != nil {
			t.Fatal(err)
		}
	}
	put("HUB-A", 5)
	put("Hub-A.", 9)
	one := q.ShadowMarkFloor("Hub-A.")
	all := q.ShadowMarkFloors()["hub-a"]
	if one != all || all.Mark != 9 {
		t.Fatalf("ShadowMarkFloor %+v, ShadowMarkFloors[hub-a] %+v: want both the highest, 9", one, all)
	}
}
