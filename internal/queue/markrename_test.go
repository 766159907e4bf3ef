package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// rt20c-F1: the counter presented to a shadow server is its database's,
// not its name's. A second name recorded with the same database id (a
// topology that spells the server anew, kept from before the rule that
// refuses it) goes on from the highest mark presented to that database,
// never from 0 (a lower mark reads as a rollback there: SR-7); a name
// with no recorded id counts under the name; a new database of the
// server goes on from its old one's; a copy stored under either name
// raises the one counter.
func TestHolderMarkIsTheDatabasesUnderEveryName(t *testing.T) {
	s := openTest(t)
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }),
		ManagerConfig{Clock: clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))})
	ctx := context.Background()
	copyOn := func(server string) uint64 {
		t.Helper()
		m := receiptCopy(s, "x@b.example")
		m.ShadowServer, m.ShadowID = server, m.OrgID
		if err := q.Submit(ctx, m, []byte(body)); err != nil {
			t.Fatal(err)
		}
		return m.HolderMark
	}
	// Counted under its name before its id is known, then by its id.
	copyOn("hub-b")
	if _, _, err := q.ShadowHolderSeen("hub-b", "dbB"); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		copyOn("hub-b")
	}
	if n := q.ShadowHolderMark("hub-b"); n != 5 {
		t.Fatalf("hub-b's mark %d, want 5", n)
	}
	// A name met for the first time, no id recorded: its own counter.
	if n := q.ShadowHolderMark("hub-b2"); n != 0 {
		t.Fatalf("hub-b2's mark %d before its id is known, want 0", n)
	}
	// The same database recorded under the second name (written as a
	// release before the rule did): the database's counter, not 0.
	if err := s.Update(ctx, func(tx *Tx) error { return tx.tx.Bucket(bucketHolders).Put(holderKey("hub-b2"), []byte("dbB")) }); err != nil {
		t.Fatal(err)
	}
	if n := q.ShadowHolderMark("hub-b2"); n != 5 {
		t.Fatalf("hub-b2 (database dbB) presents %d, want hub-b's 5", n)
	}
	if n := copyOn("hub-b2"); n != 6 {
		t.Fatalf("a copy on hub-b2 marked %d, want 6", n)
	}
	if n := q.ShadowHolderMark("hub-b"); n != 6 {
		t.Fatalf("hub-b's mark %d after a copy on hub-b2, want 6", n)
	}
	// The name's counter follows the database's: a release counting by
	// name, started on this file, presents no less than was seen.
	if err := s.View(func(tx *Tx) error {
		if v := tx.tx.Bucket(bucketHolderMarks).Get(holderMarkKey("hub-b2")); len(v) != 8 || v[7] != 6 {
			t.Errorf("hub-b2's counter by name %v, want 6", v)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// hub-b comes back with a new database: its counter goes on.
	if _, _, err := q.ShadowHolderSeen("hub-b", "dbB-new"); err != nil {
		t.Fatal(err)
	}
	if n := q.ShadowHolderMark("hub-b"); n != 6 {
		t.Fatalf("hub-b's mark %d on its new database, want 6", n)
	}
	if n := copyOn("hub-b"); n != 7 {
		t.Fatalf("a copy on hub-b's new database marked %d, want 7", n)
	}
	if n := q.ShadowHolderMark("hub-b2"); n != 6 {
		t.Fatalf("hub-b2 (still dbB) presents %d, want 6", n)
	}
}

// rt20c-F1 mend: a server met under a second name whose database id is
// recorded for the first (a topology that spells it anew, a typo) gets
// no id of its own, but its copies raise the database's counter — the
// one presented to it under either name — so a primary put back to a
// file from before those copies presents less than the shadow server
// saw, and is found rolled back (SR-7 / W- rollback marks).
func TestHolderMarkSecondNameRaisesTheDatabasesCounter(t *testing.T) {
	s := openTest(t)
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }),
		ManagerConfig{Clock: clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))})
	ctx := context.Background()
	copyOn := func(server string) uint64 {
		t.Helper()
		m := receiptCopy(s, "x@b.example")
		m.ShadowServer, m.ShadowID = server, m.OrgID
		if err := q.Submit(ctx, m, []byte(body)); err != nil {
			t.Fatal(err)
		}
		return m.HolderMark
	}
	if _, _, err := q.ShadowHolderSeen("hub-b", "dbB"); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		copyOn("hub-b")
	}
	snapshot := q.ShadowHolderMark("hub-b") // what a file copied now would present
	if snapshot != 3 {
		t.Fatalf("hub-b's mark %d, want 3", snapshot)
	}
	// Met as hub-b2 with hub-b's database: refused as an id of its own,
	// twice (the second read-only).
	for range 2 {
		if _, _, err := q.ShadowHolderSeen("hub-b2", "dbB"); err == nil {
			t.Fatal("dbB recorded under a second name")
		}
	}
	if n := q.ShadowHolderMark("hub-b2"); n != 3 {
		t.Fatalf("hub-b2 (database dbB) presents %d, want the database's 3", n)
	}
	var last uint64
	for i := range 2 {
		if last = copyOn("hub-b2"); last != snapshot+uint64(i)+1 {
			t.Fatalf("copy %d on hub-b2 marked %d, want %d", i, last, snapshot+uint64(i)+1)
		}
	}
	if n := q.ShadowHolderMark("hub-b"); n != last {
		t.Fatalf("database dbB's counter %d after copies under hub-b2, want %d", n, last)
	}
	// The shadow server stored last; the primary put back to the
	// snapshot presents snapshot: a rollback.
	h := NewManager(openTest(t), DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }),
		ManagerConfig{Clock: clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))})
	if _, _, err := h.ShadowMarkSeen("hub-a", "dbA", last, MarkFloor{}); err != nil {
		t.Fatal(err)
	}
	rolled, _, err := h.ShadowMarkSeen("hub-a", "dbA", snapshot, h.ShadowMarkFloor("hub-a"))
	if err != nil || !rolled {
		t.Fatalf("a primary presenting %d after %d seen: rolled back %v (%v), want true", snapshot, last, rolled, err)
	}
}

// The mark a session presents (package delivery, presentMark) is the
// database's its peer advertises, read in one transaction: by the
// name's own recorded id, its alias, or the walk for a host name.
func TestShadowHolderMarkForDigest(t *testing.T) {
	s := openTest(t)
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }),
		ManagerConfig{Clock: clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))})
	ctx := context.Background()
	if _, _, err := q.ShadowHolderSeen("hub-b", "dbB"); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		m := receiptCopy(s, "x@b.example")
		m.ShadowServer, m.ShadowID = "hub-b", m.OrgID
		if err := q.Submit(ctx, m, []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	q.ShadowHolderSeen("hub-b2", "dbB") // refused: an alias
	d := DatabaseDigest("dbB")
	for _, c := range []struct {
		name, digest string
		want         uint64
	}{{"hub-b", d, 3}, {"hub-b2", d, 3}, {"relay.example", d, 3}, {"hub-b", "", 3}, {"hub-c", "", 0}, {"hub-c", DatabaseDigest("dbX"), 0}} {
		if n := q.ShadowHolderMarkFor(c.name, c.digest); n != c.want {
			t.Errorf("ShadowHolderMarkFor(%q, %q) = %d, want %d", c.name, c.digest, n, c.want)
		}
		if c.digest != "" {
			name := c.name
			if k := q.ShadowHolderByDigest(c.digest); k != "" {
				name = k
			}
			if n := q.ShadowHolderMark(name); n != c.want {
				t.Errorf("the two reads give %d for %q, want %d", n, c.name, c.want)
			}
		}
	}
}
