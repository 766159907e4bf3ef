package queue

import (
	"context"
	"errors"
	"testing"
	"time"

	"umbra/internal/clock"
)

// A name with a database id of its own recorded (hub-c: dbC) that now
// dials another recorded server's database (an address typo: hub-b's
// dbB) is refused and kept as an alias of dbB. The alias wins over the
// name's own recorded id: its copies, physically on dbB, raise dbB's
// counter, so a primary put back to a file from before them presents
// less than dbB saw (SR-7, rollback marks), and a live one presents no
// less than the copies' marks dbB stored. The alias goes once the name
// presents its own recorded id again, or a new id of its own.
func TestHolderMarkAliasWinsOverTheNamesOwnID(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s := openTest(t)
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	copyOn := func(server string) uint64 {
		t.Helper()
		m := receiptCopy(s, "x@b.example")
		m.ShadowServer, m.ShadowID = server, m.OrgID
		m.State, m.NextAttempt = Ready, clk.Now().Add(time.Hour)
		if err := s.Update(ctx, func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
			t.Fatal(err)
		}
		return m.HolderMark
	}
	for _, c := range []struct{ name, db string }{{"hub-b", "dbB"}, {"hub-c", "dbC"}} {
		if _, _, err := q.ShadowHolderSeen(c.name, c.db); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		copyOn("hub-b")
	}
	for range 5 {
		copyOn("hub-c")
	}
	if b, c := q.ShadowHolderMark("hub-b"), q.ShadowHolderMark("hub-c"); b != 3 || c != 5 {
		t.Fatalf("marks hub-b %d, hub-c %d; want 3 and 5", b, c)
	}
	// hub-c's address now reaches hub-b's server: refused, an alias
	// (dbB's counter starts from no less than the name's: marks.go).
	var another *DatabaseOfAnotherError
	if _, _, err := q.ShadowHolderSeen("hub-c", "dbB"); !errors.As(err, &another) {
		t.Fatalf("dbB for hub-c: %v, want refused as hub-b's", err)
	}
	snapshot := q.ShadowHolderMark("hub-b") // what a file of dbB's primary copied now presents
	if n := q.ShadowHolderMark("hub-c"); n != snapshot || snapshot < 5 {
		t.Fatalf("hub-c (dialling dbB) presents %d, dbB %d; want dbB's, no less than 5", n, snapshot)
	}
	// The holder dbB stores the marks of the copies it keeps.
	h := NewManager(openTest(t), DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	if _, _, err := h.ShadowMarkSeen("hub-a", "dbA", snapshot, MarkFloor{}); err != nil {
		t.Fatal(err)
	}
	var last uint64
	for i := range 2 {
		if last = copyOn("hub-c"); last != snapshot+uint64(i)+1 {
			t.Fatalf("copy %d made on hub-c (database dbB) marked %d, want dbB's %d", i, last, snapshot+uint64(i)+1)
		}
		if _, _, err := h.ShadowMarkSeen("hub-a", "dbA", last, MarkFloor{}); err != nil {
			t.Fatal(err)
		}
	}
	if n := q.ShadowHolderMark("hub-b"); n != last {
		t.Fatalf("dbB's counter %d after copies made on it as hub-c, want %d", n, last)
	}
	// Live, the primary presents what dbB saw: no rollback; put back to
	// the snapshot, it presents less: a rollback.
	if rolled, _, err := h.ShadowMarkSeen("hub-a", "dbA", q.ShadowHolderMarkFor("hub-c", DatabaseDigest("dbB")), h.ShadowMarkFloor("hub-a")); err != nil || rolled {
		t.Fatalf("the live primary read as rolled back %v (%v)", rolled, err)
	}
	if rolled, _, err := h.ShadowMarkSeen("hub-a", "dbA", snapshot, h.ShadowMarkFloor("hub-a")); err != nil || !rolled {
		t.Fatalf("a primary presenting %d after %d seen: rolled back %v (%v), want true", snapshot, last, rolled, err)
	}
	// The address mended: a session meets dbC under hub-c. Before its
	// XSHADOW reply is recorded it presents dbC's own counter; then the
	// alias goes, and dbC's counter goes on from no less than dbB's (a
	// copy committed under dbB's may be pushed in that very session:
	// its mark must not exceed what dbC is presented after).
	if n := q.ShadowHolderMarkFor("hub-c", DatabaseDigest("dbC")); n != 5 {
		t.Fatalf("a session meeting dbC as hub-c presents %d, want dbC's 5", n)
	}
	if _, _, err := q.ShadowHolderSeen("hub-c", "dbC"); err != nil {
		t.Fatal(err)
	}
	if n := q.ShadowHolderMark("hub-c"); n != last {
		t.Fatalf("hub-c (dbC again) presents %d, want %d (no less than dbB's)", n, last)
	}
	if n := copyOn("hub-c"); n != last+1 {
		t.Fatalf("a copy on hub-c (dbC again) marked %d, want %d", n, last+1)
	}
	if n := q.ShadowHolderMark("hub-b"); n != last {
		t.Fatalf("dbB's counter %d after a copy on dbC, want %d", n, last)
	}
	// Aliased again, then a new database of its own: the alias goes,
	// the counter goes on from dbC's (and dbB's, lifted to it).
	if _, _, err := q.ShadowHolderSeen("hub-c", "dbB"); err == nil {
		t.Fatal("dbB recorded for hub-c")
	}
	if n := q.ShadowHolderMark("hub-b"); n != last+1 {
		t.Fatalf("dbB's counter %d once hub-c is its alias again, want dbC's %d", n, last+1)
	}
	if _, _, err := q.ShadowHolderSeen("hub-c", "dbC2"); err != nil {
		t.Fatal(err)
	}
	if n := copyOn("hub-c"); n != last+2 {
		t.Fatalf("a copy on hub-c (dbC2) marked %d, want %d", n, last+2)
	}
	if n := q.ShadowHolderMark("hub-b"); n != last+1 {
		t.Fatalf("dbB's counter %d after a copy on dbC2, want %d", n, last+1)
	}
}
