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
