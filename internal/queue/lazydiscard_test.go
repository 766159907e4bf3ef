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
// with the next commit instead of committing alone: it returns once a
// commit carried it — another writer's here, the store's DeferLimit
// else — and what it forgot is not sent again.
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
	done := make(chan struct{})
	go func() { ack(); close(done) }()
	select {
	case <-done:
		t.Fatal("the lazy acknowledgement committed alone")
	case <-time.After(200 * time.Millisecond):
	}
	if err := s.Update(ctx, func(tx *Tx) error { return tx.AddDiscard("hub-c", "H", clk.Now()) }); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the lazy acknowledgement did not ride along with the next commit")
	}
	if again, _ := q.DiscardsLazy("hub-b", 10); len(again) != 0 {
		t.Fatalf("owed after the lazy forgetting: %q", again)
	}
}
