package queue

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// busyRecopiedPrimary is a primary (hub-c) killed -9 right after it
// committed a message received with shadow on receipt and pushed its copy
// to hub-b, before the push's confirmation was committed: its restart
// (Recover) marks the message held by this server only, hub-b kept as a
// server that may hold the copy (pushcrash.go). hub-b did store it, and
// has taken it over meanwhile.
func busyRecopiedPrimary(t *testing.T, clk *clock.Fake) (*Manager, *Store, *Message) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	nop := DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil })
	q := NewManager(s, nop, ManagerConfig{Clock: clk, Hostname: "hub-c", RetrySchedule: []time.Duration{time.Hour}})
	ctx := context.Background()
	m := receiptCopy(s, "x@b.example", "y@b.example")
	m.ShadowServer, m.ShadowID, m.PushOnReceipt = "hub-b", m.OrgID, true
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	if err := q.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	s.Close() // kill -9: the push's outcome is never recorded

	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	q = NewManager(s, nop, ManagerConfig{Clock: clk, Hostname: "hub-c", RetrySchedule: []time.Duration{time.Hour}})
	if _, _, err := q.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	// The restart asks hub-b whether it stored the copy (rt47 F2); its
	// answer says no record of it — the mark this fixture needs, hub-b
	// kept as one that may hold the copy.
	if _, err := q.ShadowKeptAnswer("hub-b", []string{m.OrgID}, []string{m.OrgID}, time.Minute); err != nil {
		t.Fatal(err)
	}
	sc, ok := q.SingleCopyOf(m.ID)
	if !ok || sc.Lost != "hub-b" {
		t.Fatalf("mark after the restart %+v, %v; want held here only, its copy meant for hub-b", sc, ok)
	}
	// Not "lost": hub-b stored it, as far as anyone here knows — the
	// restarted primary logged "its shadow copy on hub-b was lost" of a
	// copy hub-b had taken over and was delivering (rt42-shadowrcpt F1).
	if sc.How != HowPushCut || strings.Contains(sc.String(), "lost") {
		t.Fatalf("mark after the restart: how %q, %q; want the push cut short said so", sc.How, sc.String())
	}
	return q, s, m
}

// originalKeptBack reports whether id is still kept back for holder (its
// takenbusy entry, its record due no earlier than it says).
func originalKeptBack(t *testing.T, q *Manager, s *Store, id ID, holder string) bool {
	t.Helper()
	var until time.Time
	var holders []string
	var ok bool
	_ = s.View(func(tx *Tx) error { until, holders, ok = tx.takenBusyUntil(id); return nil })
	if !ok || !slices.Contains(holders, serverKey(holder)) {
		return false
	}
	m, err := q.Message(id)
	if err != nil {
		t.Fatal(err)
	}
	return m.State == Ready && !m.NextAttempt.Before(until)
}

// rt42-shadowrcpt F1 (SR-6, SR-8, SR-11): the returning primary kept its
// original back while hub-b, which took the copy over, delivered it
// (BUSY); meanwhile its holders' pass made the copy again on hub-a (the
// mark of the push cut by the kill). hub-b's next answer named the copy
// again — BUSY, or its note — under the org id, but the record named
// hub-a by then: the line spoke of no original, the complete answer
// released it, and hub-c delivered it a second time. An original kept
// back for hub-b's copy stays hub-b's to settle: its BUSY line keeps it,
// its note finishes it (and hub-a gets the discard of the copy made
// again), whatever server the record names now.
func TestSRBusyOriginalCopiedAgainElsewhereStaysKeptBack(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q, s, m := busyRecopiedPrimary(t, clk)
	if kept, _, err := q.ShadowCopiesBusy("hub-b", []string{m.OrgID}, true, time.Hour); err != nil || len(kept) != 1 {
		t.Fatalf("first answer (BUSY): kept back %d (%v), want the original", len(kept), err)
	}
	if err := q.ShadowRecopied(m.ID, "hub-a"); err != nil { // the holders' pass
		t.Fatal(err)
	}
	clk.Advance(2 * time.Second)
	_, released, err := q.ShadowCopiesBusy("hub-b", []string{m.OrgID}, true, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(released) != 0 || !originalKeptBack(t, q, s, m.ID, "hub-b") {
		t.Fatalf("second answer, BUSY again: released %d, kept back %v; want it still kept back",
			len(released), originalKeptBack(t, q, s, m.ID, "hub-b"))
	}
	// hub-b's attempt committed: its next answer has the notes.
	notes := []TakenDone{{ID: m.OrgID, Addr: "x@b.example", Kind: TakenDelivered}, {ID: m.OrgID, Addr: "y@b.example", Kind: TakenDelivered}}
	if changed, _, err := q.ShadowFinishedElsewhere("hub-b", notes); err != nil || len(changed) != 2 {
		t.Fatalf("hub-b's notes settled %d recipients (%v), want 2", len(changed), err)
	}
	if _, released, err := q.ShadowCopiesBusy("hub-b", nil, true, time.Hour); err != nil || len(released) != 0 {
		t.Fatalf("the answer after the notes released %d (%v), want none", len(released), err)
	}
	if got, err := q.Message(m.ID); err == nil && len(got.Pending()) > 0 {
		t.Fatalf("the original still has %d recipients pending: delivered here too", len(got.Pending()))
	}
	var owed []string
	_ = s.View(func(tx *Tx) error { owed = tx.Discards("hub-a", 10); return nil })
	if len(owed) != 1 || owed[0] != m.OrgID {
		t.Fatalf("discards owed to hub-a: %v; want the copy made again there (%s)", owed, m.OrgID)
	}
}

// The same when the copy was made again elsewhere before hub-b's first
// answer: the record names hub-a, and hub-b's copy (pushed, its discard
// owed there and not fetched yet) is the one hub-b took over and
// delivers. Its BUSY line keeps the original back; its note finishes it.
func TestSRBusyOriginalCopiedAgainBeforeTheAnswerIsKeptBack(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q, s, m := busyRecopiedPrimary(t, clk)
	if err := q.ShadowRecopied(m.ID, "hub-a"); err != nil {
		t.Fatal(err)
	}
	if kept, _, err := q.ShadowCopiesBusy("hub-b", []string{m.OrgID}, true, time.Hour); err != nil || len(kept) != 1 {
		t.Fatalf("hub-b's answer (BUSY): kept back %d (%v), want the original", len(kept), err)
	}
	if !originalKeptBack(t, q, s, m.ID, "hub-b") {
		t.Fatal("the original is not kept back for hub-b")
	}
	notes := []TakenDone{{ID: m.OrgID, Addr: "x@b.example", Kind: TakenDelivered}, {ID: m.OrgID, Addr: "y@b.example", Kind: TakenDelivered}}
	if changed, _, err := q.ShadowFinishedElsewhere("hub-b", notes); err != nil || len(changed) != 2 {
		t.Fatalf("hub-b's notes settled %d recipients (%v), want 2", len(changed), err)
	}
	if got, err := q.Message(m.ID); err == nil && len(got.Pending()) > 0 {
		t.Fatalf("the original still has %d recipients pending: delivered here too", len(got.Pending()))
	}
}

// rrbusy42 F1 (SR-6, SR-8, SR-11): two servers may each hold a copy of
// the original and each have taken it over while this one was away —
// hub-b the copy a stop cut the push of short (formerHolder), hub-a the
// copy made again there. Both deliver: hub-a's BUSY line keeps the
// original back, then hub-b's. The entry named one holder, so hub-b's
// line took it over from hub-a, and hub-b's next complete answer without
// the line (its attempt deferred, its copy given back) released the
// original while hub-a was still delivering it: delivered here too. The
// original stays kept back until every server that said BUSY of it
// answers without the line.
func TestSRBusyOriginalKeptBackForEveryHolderThatSaidBusy(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q, s, m := busyRecopiedPrimary(t, clk)
	if err := q.ShadowRecopied(m.ID, "hub-a"); err != nil {
		t.Fatal(err)
	}
	if kept, _, err := q.ShadowCopiesBusy("hub-a", []string{m.OrgID}, true, time.Hour); err != nil || len(kept) != 1 {
		t.Fatalf("hub-a's answer (BUSY): kept back %d (%v), want the original", len(kept), err)
	}
	if _, _, err := q.ShadowCopiesBusy("hub-b", []string{m.OrgID}, true, time.Hour); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Second)
	_, released, err := q.ShadowCopiesBusy("hub-b", nil, true, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(released) != 0 || !originalKeptBack(t, q, s, m.ID, "hub-a") {
		t.Fatalf("hub-b's answer without the line: released %d, kept back for hub-a %v; want it still kept back for hub-a, which delivers",
			len(released), originalKeptBack(t, q, s, m.ID, "hub-a"))
	}
	// hub-a's attempt deferred, its copy given back: its answer without
	// the line releases the original, the last server that said BUSY.
	clk.Advance(2 * time.Second)
	if _, released, err := q.ShadowCopiesBusy("hub-a", nil, true, time.Hour); err != nil || len(released) != 1 {
		t.Fatalf("hub-a's answer without the line released %d (%v), want the original", len(released), err)
	}
	if originalKeptBack(t, q, s, m.ID, "hub-a") || originalKeptBack(t, q, s, m.ID, "hub-b") {
		t.Fatal("the original is still kept back after every holder answered without the line")
	}
}
