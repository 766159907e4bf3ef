package queue

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-17 (rt47 F2): a push on receipt confirmed before the 250 leaves its
// note of a push in flight to a later commit (ReceiptCopyConfirmed), so
// a kill -9 right after the 250 leaves the note. The restart must not
// call the message held by this server only while its holder keeps the
// confirmed copy: Recover marks nothing, the holder is asked
// (XQUERYKEPT, ShadowCopiesNamed / ShadowKeptAnswer), and only an answer
// that it keeps no record of the copy marks the message single (a push
// cut short, HowPushCut) — at once, a stop cut that push: nothing of it
// is on its way. An answer that it keeps the copy ends the question.
// Seen to fail first: both messages marked single at Recover.
func TestLeftoverPushNoteAsksTheHolderBeforeMarkingSingle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{DeferLimit: time.Hour}) // the note's removal waits for another commit
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	nop := DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil })
	q := NewManager(s, nop, ManagerConfig{Clock: clk})
	ctx := context.Background()
	submit := func() *Message {
		m := receiptCopy(s, "x@b.example")
		m.ShadowServer, m.ShadowID, m.PushOnReceipt = "hub-b", m.OrgID, true
		if err := q.Submit(ctx, m, []byte(body)); err != nil {
			t.Fatal(err)
		}
		return m
	}
	// Both pushed; hub-b stored kept's copy and confirmed it (the 250
	// went out), the note's removal still waiting for a later commit;
	// cut's push was cut short before hub-b stored it.
	kept, cut := submit(), submit()
	q.ReceiptCopyConfirmed(kept.ID)
	// kill -9: the file as its last commit left it; the removal set
	// aside is never committed.
	killed := filepath.Join(t.TempDir(), "queue.db")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(killed, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s, err = Open(killed, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q = NewManager(s, nop, ManagerConfig{Clock: clk})
	if _, _, err := q.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	if n := q.SingleCopyCount(); n != 0 {
		t.Fatalf("after the restart: %d held by this server only; want none before hub-b is asked", n)
	}
	for _, m := range []*Message{kept, cut} {
		if _, ok := q.SingleCopyOf(m.ID); ok {
			t.Fatalf("%s marked single before its holder was asked", m.ID)
		}
	}
	ids, _, err := q.ShadowCopiesNamed("hub-b", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(ids, kept.OrgID) || !slices.Contains(ids, cut.OrgID) {
		t.Fatalf("asked of hub-b: %v; want both copies", ids)
	}
	// hub-b keeps kept's copy and has no record of cut's.
	marked, err := q.ShadowKeptAnswer("hub-b", ids, []string{cut.OrgID}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(marked) != 0 {
		t.Errorf("returned as rolled back on hub-b: %d; a push cut short is not a rolled-back file", len(marked))
	}
	sc, ok := q.SingleCopyOf(cut.ID)
	if !ok || sc.Lost != "hub-b" || sc.How != HowPushCut {
		t.Fatalf("the message whose push was cut: mark %+v, %v; want held here only, how %q, its copy meant for hub-b", sc, ok, HowPushCut)
	}
	if _, ok := q.SingleCopyOf(kept.ID); ok {
		t.Fatal("the message whose copy hub-b keeps is marked")
	}
	if n := q.SingleCopyCount(); n != 1 {
		t.Fatalf("held by this server only: %d, want 1", n)
	}
	// The question about kept is over: a later answer leaves it alone,
	// and the next probe asks of it as of any copy.
	if _, err := q.ShadowKeptAnswer("hub-b", []string{kept.OrgID}, []string{kept.OrgID}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, ok := q.SingleCopyOf(kept.ID); ok {
		t.Fatal("one answer about a confirmed copy marked it: the rolled-back rule needs two answers apart")
	}
	// Made again on hub-c: hub-b may hold the cut push's copy, and gets
	// its discard.
	if err := q.ShadowRecopied(cut.ID, "hub-c"); err != nil {
		t.Fatal(err)
	}
	var owed []string
	_ = s.View(func(tx *Tx) error { owed = tx.Discards("hub-b", 10); return nil })
	if len(owed) != 1 || owed[0] != cut.OrgID {
		t.Fatalf("discards owed to hub-b: %v; want the cut push's copy %s", owed, cut.OrgID)
	}
}
