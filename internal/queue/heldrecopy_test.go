package queue

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"umbra/internal/clock"
)

// rt18b F1: the copy of a message held by this server only is made
// again while the message is in delivery (claimed and waiting for a
// slot, or in a session that hangs): the push reads the record, and the
// commit that records the copy keeps its holder in the mark (the
// attempt's commit writes the record). The message then counts as held
// elsewhere; a pass after the attempt names the holder and drops the
// mark; an attempt that finishes it owes that holder the discard.
func TestCopyMadeAgainWhileInDelivery(t *testing.T) {
	taken := func(t *testing.T) (*Manager, *Store, *Message) {
		q, s, clk := idleManager(t)
		m := takenReceiptCopies(t, q, s, clk, 1, "x@b.example", "y@c.example")[0]
		if q.SingleCopyCount() != 1 {
			t.Fatalf("taken over: %d marks", q.SingleCopyCount())
		}
		return q, s, m
	}
	q, s, m := taken(t)
	setState(t, s, m.ID, Active)
	if _, _, ok, err := q.RecopyCandidate(m.ID); err != nil || !ok {
		t.Fatalf("a message in delivery is no candidate for its copy: %v, %v", ok, err)
	}
	if err := q.ShadowRecopied(m.ID, "hub-c"); err != nil {
		t.Fatalf("the copy made while in delivery was not recorded: %v", err)
	}
	if sc, ok := q.SingleCopyOf(m.ID); !ok || sc.Held != "hub-c" {
		t.Fatalf("mark %+v, %v; want one naming hub-c as the holder", sc, ok)
	}
	if n := q.SingleCopyCount(); n != 0 {
		t.Fatalf("counted held by this server only: %d", n)
	}
	if _, _, ok, err := q.RecopyCandidate(m.ID); err != nil || ok {
		t.Fatalf("pushed again while still in delivery: %v, %v", ok, err)
	}
	// hub-c loses its database while the message is still in delivery:
	// the copy made there is lost too, and made again at the next pass.
	if _, _, err := q.ShadowHolderSeen("hub-c", "dbC"); err != nil {
		t.Fatal(err)
	}
	if sc, ok := q.SingleCopyOf(m.ID); !ok || sc.Held != "hub-c" {
		t.Fatalf("hub-c's first id changed the mark: %+v, %v", sc, ok)
	}
	if lost, _, err := q.ShadowHolderSeen("hub-c", "dbC2"); err != nil || lost != 1 {
		t.Fatalf("hub-c's new database: %d lost, %v; want the copy made while in delivery", lost, err)
	}
	if sc, ok := q.SingleCopyOf(m.ID); !ok || sc.Held != "" || q.SingleCopyCount() != 1 {
		t.Fatalf("after hub-c's new database: mark %+v, %v, %d counted; want held by this server only again", sc, ok, q.SingleCopyCount())
	}
	if _, _, ok, err := q.RecopyCandidate(m.ID); err != nil || !ok {
		t.Fatalf("its copy is not made again while in delivery: %v, %v", ok, err)
	}
	if err := q.ShadowRecopied(m.ID, "hub-c"); err != nil {
		t.Fatal(err)
	}
	// Out of delivery: the next pass names it.
	setState(t, s, m.ID, Ready)
	if _, _, ok, err := q.RecopyCandidate(m.ID); err != nil || !ok {
		t.Fatalf("out of delivery, no candidate: %v, %v", ok, err)
	}
	if err := q.ShadowRecopied(m.ID, "hub-c"); err != nil {
		t.Fatal(err)
	}
	if _, ok := q.SingleCopyOf(m.ID); ok {
		t.Fatal("still marked once named")
	}
	if got, err := q.Message(m.ID); err != nil || got.ShadowServer != "hub-c" || got.ShadowID != m.OrgID {
		t.Fatalf("record names %q/%q (%v), want hub-c/%s", got.ShadowServer, got.ShadowID, err, m.OrgID)
	}
}

// The message left while its copy was pushed again (a push made while
// it is in delivery makes that likely: the attempt ended, a discard
// settled it): the new copy's holder gets its discard at once, not the
// answer to its question an hour later.
func TestCopyMadeAgainForMessageThatLeftIsDiscarded(t *testing.T) {
	q, _, m := takenRecopied(t) // its copy named on hub-c; made again below
	if _, err := q.ApplyDiscards("hub-a", []string{m.OrgID}); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Message(m.ID); err == nil {
		t.Fatal("the record outlived the primary's discard")
	}
	before := len(owed(q))
	if err := q.ShadowRecopiedOrg(m.ID, m.OrgID, "hub-d"); err != nil {
		t.Fatal(err)
	}
	lines, _ := q.DiscardsPartial("hub-d", 100)
	if len(lines) != 1 || lines[0] != m.OrgID {
		t.Fatalf("owed to hub-d: %q (hub-c: %d); want the discard of %s", lines, before, m.OrgID)
	}
}

// rt19 reread (mendq19 1): an operator's removal or bounce of a message
// whose copy was made again on a server while it was in delivery (held
// in the mark, not yet named by the record), or pushed to a server
// without confirmation, owes each of those servers the discard, in the
// removal's commit: the mark is settled by the delete itself. So does
// an operator's hold, a hold on every server. Without it the holder
// keeps the copy and, when this server fails, takes it over and
// delivers mail the operator removed or holds. (SR-4)
func TestRemovedMessageOwesHeldAndPushedHoldersTheirDiscard(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{"remove", "bounce", "suspend"} {
		t.Run(name, func(t *testing.T) {
			q, s, clk := idleManager(t)
			m := takenReceiptCopies(t, q, s, clk, 1, "x@b.example", "y@c.example")[0]
			if _, err := q.RecopyPushing(m.ID, "hub-d"); err != nil {
				t.Fatal(err)
			}
			setState(t, s, m.ID, Active)
			if err := q.ShadowRecopied(m.ID, "hub-c"); err != nil {
				t.Fatal(err)
			}
			setState(t, s, m.ID, Ready) // the attempt ended without naming hub-c
			if sc, ok := q.SingleCopyOf(m.ID); !ok || sc.Held != "hub-c" {
				t.Fatalf("mark %+v, %v; want hub-c held", sc, ok)
			}
			var err error
			if name == "suspend" {
				// An operator's hold is one on every server (hold.go).
				err = q.SuspendMessage(ctx, m.ID)
			} else {
				err = q.RemoveMessage(ctx, m.ID, name == "bounce")
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range []string{"hub-c", "hub-d"} {
				lines, _ := q.DiscardsPartial(h, 100)
				if len(lines) != 1 || lines[0] != m.OrgID {
					t.Errorf("owed to %s after the %s: %q; want the discard of %s", h, name, lines, m.OrgID)
				}
			}
			sc, ok := q.SingleCopyOf(m.ID)
			if name != "suspend" && ok {
				t.Error("the mark outlived the removal")
			}
			if name == "suspend" && (!ok || sc.Held != "") {
				t.Errorf("held: mark %+v, %v; want it kept, naming no holder (made again at release)", sc, ok)
			}
		})
	}
}

// rt19 reread (mendq19 3): the list of messages held by this server
// only leaves out one whose copy was made again while it is in delivery
// (held elsewhere), in the one place every reader takes it from; once
// out of delivery, the listing's commit names the holder in the record
// — the copy was confirmed, it is not pushed again. The metric's count
// is kept by the marks' commits, through a reopen too. (OPS-, SR-3)
func TestSingleCopiesLeaveHeldOutAndNameItAfterDelivery(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	ms := takenReceiptCopies(t, q, s, clk, 2, "x@b.example", "y@c.example")
	if n := q.SingleCopyCount(); n != 2 {
		t.Fatalf("taken over: %d counted, want 2", n)
	}
	m := ms[0]
	setState(t, s, m.ID, Active)
	if err := q.ShadowRecopied(m.ID, "hub-c"); err != nil {
		t.Fatal(err)
	}
	list, err := q.SingleCopies()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != ms[1].ID || list[0].Held != "" {
		t.Fatalf("listed %+v; want only %s (the other's copy is held on hub-c)", list, ms[1].ID)
	}
	if n := q.SingleCopyCount(); n != 1 {
		t.Fatalf("counted %d, want 1", n)
	}
	setState(t, s, m.ID, Ready) // the attempt ended; the record does not name hub-c yet
	if _, err := q.SingleCopies(); err != nil {
		t.Fatal(err)
	}
	if _, ok := q.SingleCopyOf(m.ID); ok {
		t.Fatal("still marked after a listing out of delivery")
	}
	if got, err := q.Message(m.ID); err != nil || got.ShadowServer != "hub-c" || got.ShadowID != m.OrgID {
		t.Fatalf("record names %q/%q (%v), want hub-c/%s without a second push", got.ShadowServer, got.ShadowID, err, m.OrgID)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q = NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	if n := q.SingleCopyCount(); n != 1 {
		t.Fatalf("after a reopen: counted %d, want 1", n)
	}
	if err := q.RemoveMessage(ctx, ms[1].ID, false); err != nil {
		t.Fatal(err)
	}
	if n := q.SingleCopyCount(); n != 0 {
		t.Fatalf("after the removal: counted %d, want 0", n)
	}
}
