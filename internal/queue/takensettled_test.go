package queue

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
)

// takenRecopied is a shadow copy on receipt of x@b.example and
// y@c.example from hub-a (database dbA), taken over after three failed
// heartbeats and copied again on hub-c (ShadowRecopied), on a manager
// that delivers nothing.
func takenRecopied(t *testing.T) (*Manager, *Store, *Message) {
	t.Helper()
	q, s, clk := idleManager(t)
	m := takenReceiptCopies(t, q, s, clk, 1, "x@b.example", "y@c.example")[0]
	if sc, ok := q.SingleCopyOf(m.ID); !ok || !sc.TakenOver {
		t.Fatalf("taken over: mark %+v, %v", sc, ok)
	}
	if err := q.ShadowRecopied(m.ID, "hub-c"); err != nil {
		t.Fatal(err)
	}
	return q, s, m
}

// owed is what this server owes hub-c for its copy: full discards, then
// partial ones (DiscardsPartial: a version-9 server).
func owed(q *Manager) []string {
	lines, _ := q.DiscardsPartial("hub-c", 100)
	return lines
}

// rt55 F1: a copy taken over and copied again on another server (hub-c)
// is owed that server's discard by every path that ends, in whole or in
// part, what this server still has to deliver: the returning primary's
// discard (full or partial), a quarantine that absorbs it, its give-back
// to the primary that answers again with its database. Without it hub-c
// keeps the copy, and takes it over — a second delivery — when this
// server fails in turn. (SR-3, SR-4)
func TestTakenOverCopyMadeAgainGetsItsDiscard(t *testing.T) {
	ctx := context.Background()
	t.Run("full discard", func(t *testing.T) {
		q, _, m := takenRecopied(t)
		if _, err := q.ApplyDiscards("hub-a", []string{m.OrgID}); err != nil {
			t.Fatal(err)
		}
		if _, err := q.Message(m.ID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("the record outlived the primary's discard: %v", err)
		}
		if got := owed(q); !slices.Equal(got, []string{m.OrgID}) {
			t.Fatalf("owed to hub-c: %q, want the discard of %s", got, m.OrgID)
		}
	})
	t.Run("partial discards", func(t *testing.T) {
		q, _, m := takenRecopied(t)
		if _, err := q.ApplyDiscards("hub-a", []string{m.OrgID + PartialDiscardSep + "x@b.example"}); err != nil {
			t.Fatal(err)
		}
		if got, want := owed(q), []string{m.OrgID + PartialDiscardSep + "x@b.example"}; !slices.Equal(got, want) {
			t.Fatalf("owed to hub-c after x@'s partial discard: %q, want %q", got, want)
		}
		if _, err := q.ApplyDiscards("hub-a", []string{m.OrgID + PartialDiscardSep + "y@c.example"}); err != nil {
			t.Fatal(err)
		}
		if got := owed(q); !slices.Equal(got, []string{m.OrgID}) {
			t.Fatalf("owed to hub-c after both: %q, want the discard of %s", got, m.OrgID)
		}
	})
	t.Run("quarantine", func(t *testing.T) {
		q, s, m := takenRecopied(t)
		o := msg(s, "a@example.org", "x@b.example", "y@c.example")
		o.OrgID, o.Quarantine = m.OrgID, "held for review"
		if err := q.Submit(ctx, o, []byte(body)); err != nil {
			t.Fatal(err)
		}
		if _, err := q.Message(m.ID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("the taken-over record outlived the quarantine that absorbed it: %v", err)
		}
		if got := owed(q); !slices.Equal(got, []string{m.OrgID}) {
			t.Fatalf("owed to hub-c: %q, want the discard of %s", got, m.OrgID)
		}
	})
	t.Run("given back", func(t *testing.T) {
		q, _, m := takenRecopied(t)
		res, err := q.ShadowContact("hub-a", "dbA", nil)
		if err != nil || res.GivenBack != 1 {
			t.Fatalf("contact: %+v, %v; want the copy given back", res, err)
		}
		if got := owed(q); !slices.Equal(got, []string{m.OrgID}) {
			t.Fatalf("owed to hub-c: %q, want the discard of %s", got, m.OrgID)
		}
		if sc, ok := q.SingleCopyOf(m.ID); ok {
			t.Fatalf("given back, still marked: %+v", sc)
		}
	})
}

// rt55 F1: a taken-over copy's mark says what befell it (taken over
// from its primary) through a copy made again and refused, or pushed
// and not confirmed: the views keep saying it, and the give-back to the
// primary still finds the mark and drops it.
func TestTakenOverMarkKeptThroughRefusalAndUnconfirmedPush(t *testing.T) {
	q, s, clk := idleManager(t)
	m := takenReceiptCopies(t, q, s, clk, 1, "x@b.example")[0]
	if err := q.RecopyRefused(m.ID, "hub-c", "452 4.3.1 full"); err != nil {
		t.Fatal(err)
	}
	if _, err := q.RecopyPushing(m.ID, "hub-d"); err != nil {
		t.Fatal(err)
	}
	sc, ok := q.SingleCopyOf(m.ID)
	if !ok || !sc.TakenOver || sc.Lost != "hub-a" || sc.Refused != "hub-c: 452 4.3.1 full" {
		t.Fatalf("mark %+v, %v; want taken over from hub-a, refused by hub-c", sc, ok)
	}
	if res, err := q.ShadowContact("hub-a", "dbA", nil); err != nil || res.GivenBack != 1 {
		t.Fatalf("contact: %+v, %v; want the copy given back", res, err)
	}
	if sc, ok := q.SingleCopyOf(m.ID); ok {
		t.Fatalf("given back, still marked: %+v", sc)
	}
	// hub-d may have stored the push it did not confirm: its discard.
	if got, _ := q.Discards("hub-d", 10); !slices.Equal(got, []string{m.OrgID}) {
		t.Fatalf("owed to hub-d: %q, want the discard of %s", got, m.OrgID)
	}
}

// rt55 F1, db restore: a message marked held by this server only is
// kept by no shadow server, whatever server its record still names (its
// copy there was lost, or refused): a restore that lacks it leaves it
// behind, and LostByRestore lists it. One whose copy is made names its
// holder and is not listed.
func TestLostByRestoreListsMarkedSingle(t *testing.T) {
	dir := t.TempDir()
	backup := filepath.Join(dir, "backup.db")
	b, err := Open(backup, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	path := filepath.Join(dir, "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{})
	kept, lost := receiptCopy(s, "x@b.example"), receiptCopy(s, "y@b.example")
	for _, m := range []*Message{kept, lost} {
		m.ShadowServer, m.ShadowID = "hub-c", m.OrgID
		if err := q.Submit(context.Background(), m, []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.MarkSingleCopy(lost.ID, "hub-c", "452 4.3.1 full"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	got, known, err := LostByRestore(backup, path)
	if err != nil || !known || len(got) != 1 || got[0].ID != lost.ID {
		t.Fatalf("LostByRestore = %+v, %v, %v; want only %s (marked held here only)", got, known, err, lost.ID)
	}
}
