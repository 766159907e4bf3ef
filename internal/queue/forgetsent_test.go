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

// OPS-2 (rt28a F1): a notification handed to several sessions of one
// shadow server before any acknowledged it (their discard queries at the
// end of concurrent deliveries) is one notification: counted once, when
// it is forgotten, however often it was handed.
func TestDiscardsSentCountedOnce(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var sent int
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }),
		ManagerConfig{Clock: clk, DiscardsSent: func(n int) { sent += n }})
	ctx := context.Background()
	for _, id := range []string{"A", "B", "C"} {
		if err := s.Update(ctx, func(tx *Tx) error { return tx.AddDiscard("hub-b", id, clk.Now()) }); err != nil {
			t.Fatal(err)
		}
	}
	var acks []func()
	for range 6 { // six sessions ask before the first acknowledges
		lines, ack := q.Discards("hub-b", 10)
		if len(lines) != 3 {
			t.Fatalf("handed %q, want the 3", lines)
		}
		acks = append(acks, ack)
	}
	for _, ack := range acks {
		ack()
	}
	if sent != 3 {
		t.Fatalf("discard notifications counted as sent: %d, want 3 (each once)", sent)
	}
	if again, _ := q.Discards("hub-b", 10); len(again) != 0 {
		t.Fatalf("owed after the acknowledgements: %q", again)
	}
}
