package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// The primary's side of rollback marks: every commit that stores a
// message naming a shadow server raises that server's counter (and
// tells the message which value), so it only grows; another server's is
// its own.
func TestHolderMarkGrowsWithEachCopy(t *testing.T) {
	s := openTest(t)
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }),
		ManagerConfig{Clock: clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))})
	ctx := context.Background()
	for i, server := range []string{"hub-b", "HUB-B", "hub-c", "hub-b"} {
		m := receiptCopy(s, "x@b.example")
		m.ShadowServer, m.ShadowID = server, m.OrgID
		if err := q.Submit(ctx, m, []byte(body)); err != nil {
			t.Fatal(err)
		}
		want := map[int]uint64{0: 1, 1: 2, 2: 1, 3: 3}[i]
		if m.HolderMark != want {
			t.Fatalf("copy %d on %s: mark %d, want %d", i, server, m.HolderMark, want)
		}
	}
	if n := q.ShadowHolderMark("hub-b"); n != 3 {
		t.Fatalf("hub-b's mark %d, want 3", n)
	}
	// A copy made again (RecopyPushing) raises it before its push.
	if n, err := q.RecopyPushing(ID(1), "hub-b"); err != nil || n != 4 {
		t.Fatalf("bump: %d, %v; want 4", n, err)
	}
}

// The shadow server's side: a mark of the same database id below the
// highest seen (from a presentation, or a copy's own mark) is a rolled-
// back primary: its copies are taken over in that commit and the mark
// starts again; a mark of another database id is left to SR-7.
func TestShadowMarkBelowSeenTakesCopiesOver(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	ctx := context.Background()
	for _, mark := range []uint64{3, 7} {
		res, err := q.SubmitShadowCopiesMarked(ctx, []ShadowCopy{{M: receiptCopy(s, "x@b.example"), Body: MemBody([]byte(body))}}, "hub-a", "127.0.0.1:25", "dbA", mark)
		if err != nil || !res[0].Stored {
			t.Fatalf("copy: %+v, %v", res, err)
		}
	}
	floor := q.ShadowMarkFloor("hub-a") // 7 of dbA, read before the primary's reply
	// A copy of another session raises the mark to 12 meanwhile; the
	// reply, read by the primary before that copy's commit, says 9: no
	// rollback (it is compared with the floor read before, 7).
	if _, err := q.SubmitShadowCopiesMarked(ctx, []ShadowCopy{{M: receiptCopy(s, "x@b.example"), Body: MemBody([]byte(body))}}, "hub-a", "127.0.0.1:25", "dbA", 12); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		db         string
		mark       uint64
		rolledBack bool
		taken      int
	}{
		{"dbA", 9, false, 0},  // above the floor: fine, though below 12
		{"dbA", 12, false, 0}, // what it reached
		{"dbB", 1, false, 0},  // another database: SR-7's, not a rollback
		{"dbA", 11, true, 3},  // read after 12 was stored: less, rolled back
		{"dbA", 11, false, 0}, // the mark starts again from 11
	} {
		rb, taken, err := q.ShadowMarkSeen("hub-a", c.db, c.mark, floor)
		if err != nil || rb != c.rolledBack || taken != c.taken {
			t.Fatalf("mark %d of %s (floor %+v): rolled back %v, taken %d, %v; want %v, %d", c.mark, c.db, floor, rb, taken, err, c.rolledBack, c.taken)
		}
		floor = q.ShadowMarkFloor("hub-a") // the next presentation's floor
	}
	if q.RolledBack() != 1 {
		t.Fatalf("counted %d rollbacks, want 1", q.RolledBack())
	}
	peers, _ := q.ShadowPeers()
	if len(peers) != 1 || peers[0].DatabaseID != "dbA" {
		t.Fatalf("peers %+v: the stored id stays dbA", peers)
	}
}

// A presentation that changes nothing stored — the mark is not above the
// one kept for the same database id, no rollback, or the primary
// presented a database id other than the one its copies were made
// against (SR-7 is the contact's to handle) — commits nothing: a
// commit of no change still pays the store's two fdatasyncs, and a
// shadow server under shadow on receipt hears a presentation in every
// push session and every discard reply.
func TestShadowMarkSeenUnchangedCommitsNothing(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	ctx := context.Background()
	if _, err := q.SubmitShadowCopiesMarked(ctx, []ShadowCopy{{M: receiptCopy(s, "x@b.example"), Body: MemBody([]byte(body))}}, "hub-a", "127.0.0.1:25", "dbA", 7); err != nil {
		t.Fatal(err)
	}
	if _, err := q.ShadowContact("hub-a", "dbA", nil); err != nil {
		t.Fatal(err)
	}
	txid := func() (id int) {
		s.View(func(tx *Tx) error { id = tx.tx.ID(); return nil })
		return id
	}
	for _, mark := range []uint64{7, 5} { // equal, and below with no floor proving a rollback
		before := txid()
		if rolled, _, err := q.ShadowMarkSeen("hub-a", "dbA", mark, MarkFloor{}); err != nil || rolled {
			t.Fatalf("mark %d: rolled back %v, %v", mark, rolled, err)
		}
		if after := txid(); after != before {
			t.Fatalf("mark %d changed nothing and committed (txid %d → %d)", mark, before, after)
		}
	}
	if f := q.ShadowMarkFloor("hub-a"); f.Mark != 7 || f.DB != "dbA" {
		t.Fatalf("floor %+v, want 7 of dbA", f)
	}
	// A higher mark is stored (one commit), as before.
	before := txid()
	if _, _, err := q.ShadowMarkSeen("hub-a", "dbA", 9, MarkFloor{Mark: 7, DB: "dbA"}); err != nil {
		t.Fatal(err)
	}
	if f := q.ShadowMarkFloor("hub-a"); f.Mark != 9 || txid() != before+1 {
		t.Fatalf("floor %+v after one commit (txid %d → %d), want 9", f, before, txid())
	}
	// A rollback is still found: 8 presented with the floor read at 9.
	if rolled, _, err := q.ShadowMarkSeen("hub-a", "dbA", 8, MarkFloor{Mark: 9, DB: "dbA"}); err != nil || !rolled {
		t.Fatalf("mark 8 under floor 9: rolled back %v, %v; want a rollback", rolled, err)
	}
}
