package queue

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// A holder no probe reached for the takeover bound (the holder lost for
// good): its copies are taken as lost. The messages whose copy was there
// are marked held by this server only, with the holder and since when it
// is unreachable; the copy made again on another server gives the old
// holder the discard of its copy (it may come back with it, and must not
// take it over too); a holder that answers before the copy was made
// again still has it, and the mark goes.
func TestSR6HolderUnreachableForTheTakeoverBoundIsALostCopy(t *testing.T) {
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	ctx := context.Background()
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
	onB := put("hub-b", "")
	relayedB := put("hub-b", "b-017")
	onC := put("hub-c", "")
	clk.Advance(40 * time.Second)

	n, err := q.ShadowHolderUnreachable("hub-b", t0)
	if err != nil || n != 2 {
		t.Fatalf("marked %d, %v; want 2", n, err)
	}
	if _, ok := q.SingleCopyOf(onC.ID); ok {
		t.Fatal("the copy on hub-c is marked lost")
	}
	sc, ok := q.SingleCopyOf(onB.ID)
	if !ok || sc.Lost != "hub-b" || sc.How != HowUnreachable || !sc.Since.Equal(t0) {
		t.Fatalf("mark %+v %v; want lost on hub-b, unreachable since %s", sc, ok, t0)
	}
	if txt := sc.String(); !strings.Contains(txt, "hub-b has not answered a probe nor opened a session here since") || strings.Contains(txt, "was lost") {
		t.Errorf("the mark reads %q", txt)
	}
	if c := q.SingleCopyCount(); c != 2 {
		t.Fatalf("single-copy count %d, want 2", c)
	}
	if n, err := q.ShadowHolderUnreachable("hub-b", t0); err != nil || n != 0 {
		t.Fatalf("marked again: %d, %v", n, err)
	}

	// The copies made again on hub-c: hub-b gets the discard of each of
	// its copies, under the id it keeps it by.
	for _, m := range []*Message{onB, relayedB} {
		if err := q.ShadowRecopied(m.ID, "hub-c"); err != nil {
			t.Fatal(err)
		}
	}
	var owed []string
	s.View(func(tx *Tx) error { owed = tx.Discards("hub-b", 100); return nil })
	for _, want := range []string{onB.OrgID, "b-017"} {
		if !slices.Contains(owed, want) {
			t.Errorf("discards owed to hub-b %q; want %q among them", owed, want)
		}
	}
	if c := q.SingleCopyCount(); c != 0 {
		t.Fatalf("single-copy count %d after the copies were made again, want 0", c)
	}
	got, _ := q.Message(onB.ID)
	if got.ShadowServer != "hub-c" {
		t.Fatalf("record names %q, want hub-c", got.ShadowServer)
	}

	// A holder that answers again before its copy was made again keeps
	// it: the mark goes, and no discard is owed to it.
	onC2 := put("hub-c", "")
	if n, err := q.ShadowHolderUnreachable("hub-c", clk.Now()); err != nil || n != 4 {
		t.Fatalf("hub-c: marked %d, %v; want 4 (two made again there)", n, err)
	}
	if n, err := q.ShadowHolderAnswered("HUB-C"); err != nil || n != 4 {
		t.Fatalf("hub-c answered: %d marks went, %v; want 4", n, err)
	}
	for _, m := range []*Message{onC, onC2, onB} {
		if _, ok := q.SingleCopyOf(m.ID); ok {
			t.Errorf("%s still marked after hub-c answered", m.ID)
		}
	}
	s.View(func(tx *Tx) error { owed = tx.Discards("hub-c", 100); return nil })
	if len(owed) != 0 {
		t.Errorf("discards owed to hub-c, which holds the copies: %q", owed)
	}
}

// SR-6 (rr notopo38): a holder silent since before a message arrived
// holds that message's copy alone from its arrival, not from a time the
// message was not here: the mark's "since" (shadow single, message show)
// is never before the message arrived.
func TestSR6HolderUnreachableSinceNotBeforeArrival(t *testing.T) {
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	clk.Advance(30 * time.Second)
	m := receiptCopy(s, "x@b.example", "y@c.example")
	m.ShadowServer, m.ShadowID = "hub-b", m.OrgID
	if err := q.Submit(context.Background(), m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	got, err := q.Message(m.ID)
	if err != nil || got.Arrived.Before(t0.Add(30*time.Second)) {
		t.Fatalf("message arrived %v (%v); want at t0+30s", got.Arrived, err)
	}
	clk.Advance(10 * time.Second)
	if n, err := q.ShadowHolderUnreachable("hub-b", t0); err != nil || n != 1 {
		t.Fatalf("marked %d, %v; want 1", n, err)
	}
	sc, ok := q.SingleCopyOf(m.ID)
	if !ok || sc.Since.Before(got.Arrived) {
		t.Fatalf("mark %+v %v: held alone since %s, before the message arrived at %s", sc, ok, sc.Since, got.Arrived)
	}
	if !strings.Contains(sc.String(), got.Arrived.UTC().Format(time.RFC3339)) {
		t.Errorf("the mark reads %q; want its arrival as the time", sc.String())
	}
}

// SR-6 (watch40 item 5): while a holder stays silent every pass of the
// probe calls ShadowHolderUnreachable. The messages to mark are now found
// in a read transaction, passing over those marked already by their key,
// and only those are read again and marked in the write transaction
// (BenchmarkHolderUnreachablePass: no write transaction, no record read
// by the writer, for a pass that finds nothing new). A pass after the
// first marks nothing again, and a copy made on the holder since is
// marked at the next pass, as before.
func TestSR6HolderUnreachableLaterPassMarksOnlyNewCopies(t *testing.T) {
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	ctx := context.Background()
	put := func() *Message {
		m := receiptCopy(s, "x@b.example", "y@c.example")
		m.ShadowServer, m.ShadowID = "hub-b", m.OrgID
		if err := q.Submit(ctx, m, []byte(body)); err != nil {
			t.Fatal(err)
		}
		return m
	}
	for i := 0; i < 3; i++ {
		put()
	}
	if n, err := q.ShadowHolderUnreachable("hub-b", t0); err != nil || n != 3 {
		t.Fatalf("marked %d, %v; want 3", n, err)
	}
	for i := 0; i < 3; i++ {
		if n, err := q.ShadowHolderUnreachable("hub-b", t0); err != nil || n != 0 {
			t.Fatalf("marked again: %d, %v", n, err)
		}
	}
	clk.Advance(time.Minute)
	later := put() // a copy made on the silent holder since
	if n, err := q.ShadowHolderUnreachable("hub-b", t0); err != nil || n != 1 {
		t.Fatalf("marked %d, %v; want the new one", n, err)
	}
	if sc, ok := q.SingleCopyOf(later.ID); !ok || sc.How != HowUnreachable || !sc.Since.Equal(later.Arrived) {
		t.Fatalf("the new copy's mark %+v %v; want unreachable since its arrival", sc, ok)
	}
	if c := q.SingleCopyCount(); c != 4 {
		t.Fatalf("single-copy count %d, want 4", c)
	}
}
