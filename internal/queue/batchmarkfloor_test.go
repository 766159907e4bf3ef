package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-7 (rr39, shadow verbs 24): every mark a batch of copies on receipt
// states is a mark the primary's counter reached, and raises the floor
// kept for it (marks.go) as a copy pushed alone raises it by its
// XSHADOWMARK=. A batch whose records state their copies' own marks
// with no XSHADOWMARK= (PushBatch), or one below a record's, raised the
// floor by the batch's alone: hub-a put back from a snapshot taken
// between (its counter at 8, X's commit at 9 lost) presented 8, was not
// caught as rolled back, and X's copy stayed here for a message hub-a
// no longer had — never taken over.
func TestSR7BatchCopyOwnMarkRaisesFloor(t *testing.T) {
	for _, batchMark := range []uint64{0, 5} {
		s := openTest(t)
		clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
		if _, _, err := q.ShadowMarkSeen("hub-a", "dbA", 4, q.ShadowMarkFloor("hub-a")); err != nil {
			t.Fatal(err)
		}
		x := receiptCopy(s, "x@b.example")
		res, err := q.SubmitShadowCopiesMarked(context.Background(), []ShadowCopy{{M: x, Body: MemBody([]byte(body)), Mark: 9}}, "hub-a", "127.0.0.1:25", "dbA", batchMark)
		if err != nil || len(res) != 1 || res[0].Err != nil || !res[0].Stored {
			t.Fatalf("batch mark %d: %+v, %v", batchMark, res, err)
		}
		if f := q.ShadowMarkFloor("hub-a"); f.Mark != 9 || f.DB != "dbA" {
			t.Fatalf("batch mark %d: floor %+v after a copy stating mark 9, want 9 of dbA", batchMark, f)
		}
		rolled, _, err := q.ShadowMarkSeen("hub-a", "dbA", 8, q.ShadowMarkFloor("hub-a"))
		if err != nil || !rolled {
			t.Fatalf("batch mark %d: hub-a presenting 8 after a copy of mark 9: rolled back %v, %v; want caught", batchMark, rolled, err)
		}
	}
}
