package queue

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// rt21a H1: the primary's topology misspells its shadow server hub-b as
// hub-b2 for a while. Pushes under hub-b2 met hub-b's transport
// database (an alias, recorded with the refusal), and what is owed for
// those copies is filed under hub-b2. hub-b, asking under its own name,
// is owed those notifications (full and partial) and is never told that
// the primary is done with a copy it still needs under hub-b2
// (XQUERYHELD); a server of another database is owed none of them.
func TestNotificationsOwedUnderAliasReachHolder(t *testing.T) {
	s := openTest(t)
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{})
	if _, _, err := q.ShadowHolderSeen("hub-b", "dbB"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := q.ShadowHolderSeen("hub-c", "dbC"); err != nil {
		t.Fatal(err)
	}
	var another *DatabaseOfAnotherError
	if _, _, err := q.ShadowHolderSeen("Hub-B2", "dbB"); !errors.As(err, &another) {
		t.Fatalf("hub-b's id under Hub-B2: err %v, want it refused (an alias)", err)
	}
	pending := msg(s, "a@example.org", "x@example.test")
	pending.State, pending.ShadowServer, pending.ShadowID = Ready, "Hub-B2", "typo-pending"
	if err := s.Update(context.Background(), func(tx *Tx) error {
		if err := tx.PutNew(pending, []byte(body)); err != nil {
			return err
		}
		if err := tx.AddDiscard("Hub-B2", "typo-done", time.Now()); err != nil {
			return err
		}
		if err := tx.AddDiscard("hub-b", "own-done", time.Now()); err != nil {
			return err
		}
		return tx.AddPartialDiscard("Hub-B2", "typo-part", []string{"y@example.test"}, time.Now())
	}); err != nil {
		t.Fatal(err)
	}

	lines, ack := q.DiscardsPartial("hub-b", 100)
	want := []string{"own-done", "typo-done", PartialDiscard{"typo-part", "y@example.test"}.Wire()}
	if !slices.Equal(lines, want) {
		t.Fatalf("owed to hub-b: %v, want %v", lines, want)
	}
	if lines, _ := q.DiscardsPartial("hub-c", 100); len(lines) != 0 {
		t.Fatalf("owed to hub-c (another database): %v, want none", lines)
	}
	ack()
	if lines, _ := q.DiscardsPartial("hub-b", 100); len(lines) != 0 {
		t.Fatalf("owed to hub-b after its acknowledgement: %v, want none", lines)
	}

	done, err := q.ShadowHeld("hub-b", []string{"typo-pending", "typo-done"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(done, []string{"typo-done"}) {
		t.Fatalf("XQUERYHELD of hub-b: done %v, want [typo-done] (typo-pending still needs its copy)", done)
	}

	// The holders' probe asks hub-b about it (dropped copies, what it
	// finished of copies it took over), and hub-b back with a new
	// database lost its copy too.
	holders, err := q.ShadowHolders()
	if err != nil {
		t.Fatal(err)
	}
	if holders["hub-b"] != 1 {
		t.Fatalf("holders probed: %v; want hub-b for the copy pushed under Hub-B2", holders)
	}
	lost, _, err := q.ShadowHolderSeen("hub-b", "dbB-new")
	if err != nil {
		t.Fatal(err)
	}
	if lost != 1 {
		t.Fatalf("hub-b back with a new database: %d copies lost, want 1 (the one pushed under Hub-B2)", lost)
	}
}
