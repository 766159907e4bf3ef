package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-7 (shadow31 S4): the rollback marks of a primary are stored under
// the name its push sessions state ("Hub-A.", its server.name as
// written) and read under the topology's spelling ("hub-a": this
// server's heartbeats, watch and relays), or the other way round. Kept
// by the exact spelling, the two split: the floor read for "hub-a" was
// 0 of no database, so a primary put back from an older copy of its
// database presented a mark below the one seen and was not caught — its
// copies here asked about and dropped while it had lost their messages.
// One key for both (mailaddr.NameKey: case, a final dot, IDN), and the
// takeover finds the copies under the spelling they are stored under.
func TestSR7RollbackMarkOneKeyForEverySpelling(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	ctx := context.Background()
	// Copies pushed by the primary, its sessions stating "Hub-A.".
	for _, mark := range []uint64{3, 7} {
		res, err := q.SubmitShadowCopiesMarked(ctx, []ShadowCopy{{M: receiptCopy(s, "x@b.example"), Body: MemBody([]byte(body))}}, "Hub-A.", "127.0.0.1:25", "dbA", mark)
		if err != nil || !res[0].Stored {
			t.Fatalf("copy: %+v, %v", res, err)
		}
	}
	if _, _, err := q.ShadowMarkSeen("Hub-A.", "dbA", 9, q.ShadowMarkFloor("Hub-A.")); err != nil {
		t.Fatal(err)
	}
	for _, spelling := range []string{"hub-a", "HUB-A", "hub-a."} {
		if f := q.ShadowMarkFloor(spelling); f.Mark != 9 || f.DB != "dbA" {
			t.Fatalf("floor read as %q: %+v, want mark 9 of dbA (stored under Hub-A.)", spelling, f)
		}
	}
	// The primary, put back from an older file, presents 4 to a session
	// this server opened by the topology's spelling.
	rb, taken, err := q.ShadowMarkSeen("hub-a", "dbA", 4, q.ShadowMarkFloor("hub-a"))
	if err != nil || !rb || taken != 2 {
		t.Fatalf("mark 4 below 9 seen, presented as hub-a: rolled back %v, taken %d, %v; want true, 2", rb, taken, err)
	}
}
