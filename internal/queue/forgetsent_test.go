package queue

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"umbra/internal/clock"
)

// The forgetting deletes an entry only if it still holds what was sent:
// the same copy id owed anew meanwhile (another record under the id
// finished) is a notification the shadow server has not seen.
func TestDiscardForgetKeepsNotificationOwedAnew(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{})
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
	if again, _ := q.DiscardsPartial("hub-b", 10); len(again) != 1 || again[0] != lines[0] {
		t.Fatalf("owed after the forgetting: %q, want %q again", again, lines)
	}
}
