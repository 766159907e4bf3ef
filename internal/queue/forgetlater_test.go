package queue

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"umbra/internal/clock"
)

// Forgetting the discard notifications a shadow server provably has
// (the ack of Discards and DiscardsPartial) rides along with the next
// commit another writer asks for: it costs no commit of its own — under
// shadow on receipt the shadow server's watch session acknowledges a
// reply after nearly every result — and the session that runs the ack
// does not wait for it. Until it commits (and after a crash before it)
// the notifications stay stored; a query meanwhile skips them, and
// after a crash they are sent again, which a shadow server ignores.
func TestDiscardForgetRidesAlongWithNextCommit(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{DeferLimit: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	ctx := context.Background()
	if err := s.Update(ctx, func(tx *Tx) error {
		if err := tx.AddDiscard("hub-b", "id-1", clk.Now()); err != nil {
			return err
		}
		return tx.AddPartialDiscard("hub-b", "id-2", []string{"x@b.example"}, clk.Now())
	}); err != nil {
		t.Fatal(err)
	}
	txid := func() (id int) {
		s.View(func(tx *Tx) error { id = tx.tx.ID(); return nil })
		return id
	}
	for _, get := range []func(string, int) ([]string, func()){q.Discards, q.DiscardsPartial} {
		lines, ack := get("hub-b", 10)
		if len(lines) == 0 {
			t.Fatal("no notifications to send")
		}
		before := txid()
		returned := make(chan struct{})
		go func() { ack(); close(returned) }()
		select {
		case <-returned:
		case <-time.After(10 * time.Second):
			t.Fatal("the ack waited for a commit")
		}
		if after := txid(); after != before {
			t.Fatalf("the forget committed on its own (txid %d → %d)", before, after)
		}
		if again, _ := get("hub-b", 10); len(again) != 0 {
			t.Fatalf("before the forgetting commits %q are sent again", again)
		}
		var stored int
		s.View(func(tx *Tx) error {
			stored = len(tx.Discards("hub-b", 10)) + len(tx.PartialDiscards("hub-b", 10))
			return nil
		})
		if stored == 0 {
			t.Fatal("forgotten before any commit")
		}
		if err := s.Update(ctx, func(*Tx) error { return nil }); err != nil { // another writer's commit
			t.Fatal(err)
		}
		if after := txid(); after != before+1 {
			t.Fatalf("txid %d → %d, want one commit", before, after)
		}
		if left, _ := get("hub-b", 10); len(left) != 0 {
			t.Fatalf("after the next commit %q are still owed", left)
		}
	}
}

// The forgetting deletes an entry only if it still holds what was sent:
// the same copy id owed anew meanwhile (another record under the id
// finished) is a notification the shadow server has not seen.
func TestDiscardForgetKeepsNotificationOwedAnew(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{DeferLimit: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	ctx := context.Background()
	add := func() {
		if err := s.Update(ctx, func(tx *Tx) error { return tx.AddDiscard("hub-b", "G", clk.Now()) }); err != nil {
			t.Fatal(err)
		}
	}
	add()
	lines, ack := q.DiscardsPartial("hub-b", 10) // the reply is written
	clk.Advance(time.Second)
	add() // owed anew before the peer spoke again
	ack() // the peer spoke: it has the first one
	if err := s.Update(ctx, func(*Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	forgetsDone(t, q, "hub-b")
	if again, _ := q.DiscardsPartial("hub-b", 10); len(again) != 1 || again[0] != lines[0] {
		t.Fatalf("owed after the forgetting: %q, want %q again", again, lines)
	}
}

// forgetsDone waits (bounded) until no forgetting for server is under
// way: its outcome is taken on a goroutine of its own after the commit.
func forgetsDone(t *testing.T, q *Manager, server string) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); len(q.forgets.pending(server)) > 0; time.Sleep(time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("the forgetting never ended")
		}
	}
}
