package queue

import (
	"context"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// rt23 NEW-4: a shadow server met with another transport database id
// than before lost the copies it kept for this server. The commit that
// records the new id marks every message still pending here whose copy
// was there (pushed on receipt, or kept as the hop it was relayed from)
// held by this server only — and no other; a copy made again, or the
// message leaving, takes the mark away.
func TestShadowHolderNewDatabaseMarksItsCopies(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	ctx := context.Background() // not started: nothing is delivered
	put := func(server, shadowID string) *Message {
		m := receiptCopy(s, "x@b.example", "y@c.example")
		m.ShadowServer, m.ShadowID = server, shadowID
		if shadowID == "" {
			m.ShadowID = m.OrgID
		}
		if err := q.Submit(ctx, m, []byte(body)); err != nil {
			t.Fatal(err)
		}
		return m
	}
	onB := put("hub-b", "")        // copy on receipt on hub-b
	onC := put("hub-c", "")        // on another server
	fromB := put("HUB-B", "b-017") // relayed from hub-b in a shadow session
	none := put("", "")            // no copy anywhere
	_ = none

	for i, want := range []struct {
		db   string
		lost int
		old  string
	}{{"db1", 0, ""}, {"db1", 0, ""}, {"db2", 2, "db1"}, {"db2", 0, ""}} {
		lost, old, err := q.ShadowHolderSeen("hub-b", want.db)
		if err != nil || lost != want.lost || old != want.old {
			t.Fatalf("meeting %d (%s): lost %d, old %q, %v; want %d, %q", i, want.db, lost, old, err, want.lost, want.old)
		}
	}
	single, err := q.SingleCopies()
	if err != nil || len(single) != 2 || single[0].ID != onB.ID && single[1].ID != onB.ID {
		t.Fatalf("single copies %+v, %v; want %s and %s", single, err, onB.ID, fromB.ID)
	}
	if _, ok := q.SingleCopyOf(onC.ID); ok {
		t.Fatal("the copy on hub-c is marked lost")
	}
	if n := q.SingleCopyCount(); n != 2 {
		t.Fatalf("count %d, want 2", n)
	}

	// The copy made again on hub-c: only the pending recipients go, and
	// the record names hub-c with the org id (a copy on receipt).
	if err := s.Update(ctx, func(tx *Tx) error {
		m, err := tx.Get(fromB.ID)
		if err != nil {
			return err
		}
		m.Rcpts[0].Status = Delivered
		return tx.Put(m)
	}); err != nil {
		t.Fatal(err)
	}
	cp, b, ok, err := q.RecopyCandidate(fromB.ID)
	if err != nil || !ok || len(cp.Rcpts) != 1 || cp.Rcpts[0].Addr != "y@c.example" || b.Len() == 0 {
		t.Fatalf("candidate %+v, %v, %v; want the one pending recipient", cp, ok, err)
	}
	if err := q.ShadowRecopied(fromB.ID, "hub-c"); err != nil {
		t.Fatal(err)
	}
	got, _ := q.Message(fromB.ID)
	if got.ShadowServer != "hub-c" || got.ShadowID != got.OrgID {
		t.Fatalf("record names %s/%s; want hub-c/%s", got.ShadowServer, got.ShadowID, got.OrgID)
	}
	if _, ok := q.SingleCopyOf(fromB.ID); ok {
		t.Fatal("the mark stayed after the copy was made again")
	}
	if _, _, ok, _ := q.RecopyCandidate(fromB.ID); ok {
		t.Fatal("a message with its copy is a candidate again")
	}

	// The other one leaves (delivered): its mark goes with it.
	if err := s.Update(ctx, func(tx *Tx) error { return tx.Delete(onB.ID) }); err != nil {
		t.Fatal(err)
	}
	if n := q.SingleCopyCount(); n != 0 {
		t.Fatalf("count %d after the message left, want 0", n)
	}
	// A copy made again for a message that left meanwhile is discarded.
	if err := q.MarkSingleCopy(onC.ID, "hub-c", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, func(tx *Tx) error { return tx.Delete(onC.ID) }); err != nil {
		t.Fatal(err)
	}
	if err := q.ShadowRecopied(onC.ID, "hub-d"); err != nil {
		t.Fatal(err)
	}
	var ds []string
	s.View(func(tx *Tx) error { ds = tx.Discards("hub-d", 10); return nil })
	if len(ds) != 0 {
		t.Fatalf("discards %v for a message gone before its copy was recorded (the holder asks: XQUERYHELD)", ds)
	}
}

// rt27 F2: a message accepted "no shadow copy" because no shadow server
// took a session at receipt (Message.NoCopy) is held by this server only
// from its commit on, like a copy whose push broke after the commit: in
// SingleCopies and the count, with no server named, a candidate for the
// copy; the copy made again names its server and the mark goes. A
// message that needs no copy (a client submission: NoCopy unset) is not
// marked.
func TestNoCopyAtReceiptIsHeldHereOnly(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	ctx := context.Background() // not started: nothing is delivered
	m := receiptCopy(s, "x@b.example", "y@c.example")
	m.ShadowServer, m.ShadowID, m.NoCopy = "", "", true
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	plain := receiptCopy(s, "x@b.example")
	plain.ShadowServer, plain.ShadowID = "", ""
	if err := q.Submit(ctx, plain, []byte(body)); err != nil {
		t.Fatal(err)
	}
	single, err := q.SingleCopies()
	if err != nil || len(single) != 1 || single[0].ID != m.ID || single[0].Lost != "" || !single[0].Since.Equal(clk.Now()) {
		t.Fatalf("single copies %+v, %v; want %s only, no server named", single, err, m.ID)
	}
	if n := q.SingleCopyCount(); n != 1 {
		t.Fatalf("count %d, want 1", n)
	}
	sc, ok := q.SingleCopyOf(m.ID)
	if !ok || !strings.Contains(sc.String(), "no shadow server took its copy on receipt") {
		t.Fatalf("mark %q (%v)", sc.String(), ok)
	}
	if err := s.Update(ctx, func(tx *Tx) error { // its attempt deferred: waiting
		o, err := tx.Get(m.ID)
		if err != nil {
			return err
		}
		o.State = Ready
		return tx.Put(o)
	}); err != nil {
		t.Fatal(err)
	}
	cp, _, ok, err := q.RecopyCandidate(m.ID)
	if err != nil || !ok || len(cp.Rcpts) != 2 {
		t.Fatalf("candidate %+v, %v, %v; want both recipients", cp, ok, err)
	}
	if err := q.ShadowRecopied(m.ID, "hub-c"); err != nil {
		t.Fatal(err)
	}
	got, _ := q.Message(m.ID)
	if got.ShadowServer != "hub-c" || got.ShadowID != got.OrgID {
		t.Fatalf("record names %s/%s; want hub-c/%s", got.ShadowServer, got.ShadowID, got.OrgID)
	}
	if n := q.SingleCopyCount(); n != 0 {
		t.Fatalf("count %d after the copy was made, want 0", n)
	}
}

// rt27 F7: a copy on receipt whose push was not confirmed (it broke, or
// was abandoned at its bound while the shadow server hung) may be stored
// by that server all the same once it runs again. When the copy is made
// again on another server, the first one gets the discard of its copy
// in the same commit (an early discard there if the copy comes later),
// so that no copy outlives its message unnamed. A copy lost with its
// server's database gets none (nothing is there to discard, and an early
// discard would eat a later copy made there).
func TestRecopyElsewhereDiscardsAnUnconfirmedPush(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	ctx := context.Background()
	put := func() *Message {
		m := receiptCopy(s, "x@b.example")
		m.ShadowServer, m.ShadowID = "hub-b", m.OrgID
		if err := q.Submit(ctx, m, []byte(body)); err != nil {
			t.Fatal(err)
		}
		if err := s.Update(ctx, func(tx *Tx) error { // deferred: waiting
			o, err := tx.Get(m.ID)
			if err != nil {
				return err
			}
			o.State = Ready
			return tx.Put(o)
		}); err != nil {
			t.Fatal(err)
		}
		return m
	}
	discards := func(server string) []string {
		var ds []string
		s.View(func(tx *Tx) error { ds = tx.Discards(server, 10); return nil })
		return ds
	}
	unconfirmed := put()
	if err := q.MarkSingleCopy(unconfirmed.ID, "hub-b", ""); err != nil {
		t.Fatal(err)
	}
	if sc, ok := q.SingleCopyOf(unconfirmed.ID); !ok || sc.Lost != "hub-b" {
		t.Fatalf("mark %+v (%v); want the copy on hub-b", sc, ok)
	}
	// A pass pushes it to hub-d, unconfirmed too; the next makes it on hub-c.
	if _, err := q.RecopyPushing(unconfirmed.ID, "hub-d"); err != nil {
		t.Fatal(err)
	}
	if sc, ok := q.SingleCopyOf(unconfirmed.ID); !ok || sc.Lost != "hub-b" {
		t.Fatalf("mark %+v (%v); want the copy on hub-b still", sc, ok)
	}
	if err := q.ShadowRecopied(unconfirmed.ID, "hub-c"); err != nil {
		t.Fatal(err)
	}
	if ds := discards("hub-d"); len(ds) != 1 || ds[0] != unconfirmed.OrgID {
		t.Fatalf("discards for hub-d %v; want the unconfirmed copy's %s", ds, unconfirmed.OrgID)
	}
	if ds := discards("hub-b"); len(ds) != 1 || ds[0] != unconfirmed.OrgID {
		t.Fatalf("discards for hub-b %v; want the unconfirmed copy's %s", ds, unconfirmed.OrgID)
	}
	if ds := discards("hub-c"); len(ds) != 0 {
		t.Fatalf("discards for hub-c %v; want none (it keeps the copy)", ds)
	}

	// Lost with hub-b's database: no discard goes there.
	s2 := openTest(t)
	q2 := NewManager(s2, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	s, q = s2, q2
	lost := put()
	q.ShadowHolderSeen("hub-b", "db1")
	if n, _, err := q.ShadowHolderSeen("hub-b", "db2"); n != 1 || err != nil {
		t.Fatalf("marked %d, %v; want 1", n, err)
	}
	if err := q.ShadowRecopied(lost.ID, "hub-c"); err != nil {
		t.Fatal(err)
	}
	if ds := discards("hub-b"); len(ds) != 0 {
		t.Fatalf("discards for hub-b %v after its database was lost; want none", ds)
	}
}

// rt30 F2: a copy the chosen shadow server refused (452 4.3.1, its disk
// full) was shown as "lost". The mark keeps the refusal — the latest
// one, as a pass tries other servers — and message show names it; a
// refusing server holds no copy, so it gets no discard when the copy is
// made elsewhere, while one whose push broke without a reply does.
func TestSingleCopyRefusalShown(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	ctx := context.Background()
	m := receiptCopy(s, "x@b.example")
	m.ShadowServer, m.ShadowID = "hub-b", m.OrgID
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, func(tx *Tx) error { // deferred: waiting
		o, err := tx.Get(m.ID)
		if err != nil {
			return err
		}
		o.State = Ready
		return tx.Put(o)
	}); err != nil {
		t.Fatal(err)
	}
	if err := q.MarkSingleCopy(m.ID, "hub-b", "452 4.3.1 Insufficient system storage"); err != nil {
		t.Fatal(err)
	}
	sc, ok := q.SingleCopyOf(m.ID)
	if !ok || sc.Lost != "hub-b" || sc.Refused != "hub-b: 452 4.3.1 Insufficient system storage" ||
		!strings.Contains(sc.String(), "refused (hub-b: 452 4.3.1 Insufficient system storage)") || strings.Contains(sc.String(), "lost") {
		t.Fatalf("mark %+v %q (%v); want hub-b's refusal, not a lost copy", sc, sc.String(), ok)
	}
	// A pass: hub-d's push breaks (unconfirmed), hub-e refuses too.
	if _, err := q.RecopyPushing(m.ID, "hub-d"); err != nil {
		t.Fatal(err)
	}
	if err := q.RecopyRefused(m.ID, "hub-e", "550 5.7.1 no"); err != nil {
		t.Fatal(err)
	}
	list, err := q.SingleCopies()
	if err != nil || len(list) != 1 || list[0].Lost != "hub-b" || list[0].Refused != "hub-e: 550 5.7.1 no" {
		t.Fatalf("single copies %+v, %v; want hub-b's mark with hub-e's refusal", list, err)
	}
	if err := q.ShadowRecopied(m.ID, "hub-c"); err != nil {
		t.Fatal(err)
	}
	for server, want := range map[string]int{"hub-b": 0, "hub-e": 0, "hub-d": 1, "hub-c": 0} {
		var ds []string
		s.View(func(tx *Tx) error { ds = tx.Discards(server, 10); return nil })
		if len(ds) != want {
			t.Errorf("discards for %s: %v; want %d", server, ds, want)
		}
	}
	if _, ok := q.SingleCopyOf(m.ID); ok {
		t.Fatal("still marked after the copy was made")
	}
}
