package queue

import (
	"context"
	"path/filepath"
	"sync/atomic"
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

// SPEC SR-15: the forgetting of notifications a shadow server provably
// has is no commit of its own. Lost at a crash it only has them sent
// again (a shadow server ignores ids it does not know), so it rides
// along with the next commit any writer asks for — on a primary under
// load, the next receipt's — instead of costing an fsync'd commit per
// answered query (a fifth of a receiving hub's commits with shadow on
// receipt, BENCHMARKS.md). Until it commits, what is being forgotten is
// not sent again, and the next query does not commit it early either.
func TestDiscardForgetRidesAlong(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{DeferLimit: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	ctx := context.Background()
	if err := s.Update(ctx, func(tx *Tx) error {
		if err := tx.AddDiscard("hub-b", "G", clk.Now()); err != nil {
			return err
		}
		return tx.AddDiscard("hub-b", "H", clk.Now())
	}); err != nil {
		t.Fatal(err)
	}
	stored := func() (ids []string) {
		s.View(func(tx *Tx) error { ids = tx.Discards("hub-b", 10); return nil })
		return ids
	}
	lines, ack := q.DiscardsDelayed("hub-b", 1) // G only
	if len(lines) != 1 || lines[0] != "G" {
		t.Fatalf("first answer %q, want [G]", lines)
	}
	ack() // the peer spoke again: it has G
	if got := stored(); len(got) != 2 {
		t.Errorf("after the acknowledgement the database holds %q: the forgetting committed on its own", got)
	}
	again, ack2 := q.DiscardsDelayed("hub-b", 10)
	if len(again) != 1 || again[0] != "H" {
		t.Errorf("the next answer %q, want [H]: G, being forgotten, is not sent again", again)
	}
	if got := stored(); len(got) != 2 {
		t.Errorf("the next query committed the forgetting (%q held)", got)
	}
	ack2()
	// Any other writer's commit takes the forgettings with it.
	if err := s.Update(ctx, func(*Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if got := stored(); len(got) != 0 {
		t.Errorf("after the next commit the database still holds %q", got)
	}
	if again, _ := q.DiscardsDelayed("hub-b", 10); len(again) != 0 {
		t.Errorf("owed after the forgetting committed: %q", again)
	}
}

// OPS-2 (rt28a F1): a notification handed to several sessions of one
// shadow server before any acknowledged it (their discard queries at the
// end of concurrent deliveries) is one notification: counted once, when
// its forgetting commits, however often it was handed.
func TestDiscardsSentCountedOnce(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var sent atomic.Int64
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }),
		ManagerConfig{Clock: clk, DiscardsSent: func(n int) { sent.Add(int64(n)) }})
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
	if err := s.Update(ctx, func(*Tx) error { return nil }); err != nil { // the forgettings ride along
		t.Fatal(err)
	}
	waitFor(t, "the forgettings to be counted", func() bool { return sent.Load() >= 3 })
	time.Sleep(50 * time.Millisecond) // a count of a repeat would come meanwhile
	if n := sent.Load(); n != 3 {
		t.Fatalf("discard notifications counted as sent: %d, want 3 (each once)", n)
	}
	if again, _ := q.Discards("hub-b", 10); len(again) != 0 {
		t.Fatalf("owed after the acknowledgements: %q", again)
	}
}
