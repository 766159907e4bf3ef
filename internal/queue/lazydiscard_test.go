package queue

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-17 with shadow verbs version 14: a copy pushed on receipt makes its
// primary watched lazily (ShadowLazy), not urgent (ShadowUrgent: a
// sender waits), so that the server keeping the copy asks about once a
// second instead of long-polling for discards nobody waits on.
func TestShadowCopyOnReceiptWatchedLazily(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	m := receiptCopy(s, "x@b.example")
	if stored, err := q.SubmitShadowCopy(ctx, m, []byte(body), "hub-a", "127.0.0.1:25", "dbA"); err != nil || !stored {
		t.Fatalf("SubmitShadowCopy = %v, %v", stored, err)
	}
	if u := q.ShadowUrgent(); !u["hub-a"].IsZero() {
		t.Fatalf("a copy on receipt made its primary urgent until %v: nobody waits for its discard", u["hub-a"])
	}
	if l := q.ShadowLazy(); !l["hub-a"].After(clk.Now()) {
		t.Fatalf("ShadowLazy = %v; want hub-a ahead of now", l)
	}
	clk.Advance(urgentFor)
	if l := q.ShadowLazy(); len(l) != 0 {
		t.Fatalf("ShadowLazy after a minute without copies = %v", l)
	}
}

// The acknowledgement of a lazy query's reply (DiscardsLazy) rides along
// with the next commit instead of committing alone: it holds the
// session's next command at most lazyAckWait, stays queued while no
// commit comes (the store's DeferLimit an hour here), and what it
// forgets is gone with the next commit another writer asks for.
func TestLazyDiscardAckRidesAlong(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{DeferLimit: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	ctx := context.Background()
	if err := s.Update(ctx, func(tx *Tx) error { return tx.AddDiscard("hub-b", "G", clk.Now()) }); err != nil {
		t.Fatal(err)
	}
	lines, ack := q.DiscardsLazy("hub-b", 10)
	if len(lines) != 1 || lines[0] != "G" {
		t.Fatalf("lazy lines %q, want G", lines)
	}
	start := time.Now()
	ack()
	if el := time.Since(start); el > 10*time.Second {
		t.Fatalf("the lazy acknowledgement held the session %v", el)
	}
	if again, _ := q.DiscardsLazy("hub-b", 10); len(again) != 1 {
		t.Fatalf("owed before any commit: %q; the lazy acknowledgement committed alone", again)
	}
	if err := s.Update(ctx, func(tx *Tx) error { return tx.AddDiscard("hub-c", "H", clk.Now()) }); err != nil {
		t.Fatal(err)
	}
	if again, _ := q.DiscardsLazy("hub-b", 10); len(again) != 0 {
		t.Fatalf("owed after the next commit: %q", again)
	}
}
