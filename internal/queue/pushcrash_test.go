package queue

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"umbra/internal/clock"
)

// rt55 F4: the commit of a message received with shadow on receipt names
// the server its copy is pushed to, before the push. A stop that cuts
// the push short (kill -9 after the commit, before the shadow server's
// 250) leaves no proof of the copy: once that server answers that it
// keeps no record of it, the message is held by this server only, keeping that server as one that may
// hold the copy (its discard follows when the copy is made elsewhere).
// A push confirmed before the stop leaves nothing marked.
func TestReceiptPushCutByCrashIsHeldHereOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
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
	cut, confirmed := submit(), submit()
	q.ReceiptCopyConfirmed(confirmed.ID)
	if err := q.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	if n := q.SingleCopyCount(); n != 0 {
		t.Fatalf("%d marked while the push runs; want none", n)
	}
	s.Close() // the crash: nothing more is written

	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q = NewManager(s, nop, ManagerConfig{Clock: clk})
	if _, _, err := q.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	// hub-b is asked (rt47 F2: the note is no proof of a cut push) and
	// keeps no record of the copy.
	if _, err := q.ShadowKeptAnswer("hub-b", []string{cut.OrgID}, []string{cut.OrgID}, time.Minute); err != nil {
		t.Fatal(err)
	}
	sc, ok := q.SingleCopyOf(cut.ID)
	if !ok || sc.Lost != "hub-b" {
		t.Fatalf("the message whose push was cut: mark %+v, %v; want held here only, its copy meant for hub-b", sc, ok)
	}
	if _, ok := q.SingleCopyOf(confirmed.ID); ok {
		t.Fatal("the message whose push was confirmed is marked")
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
