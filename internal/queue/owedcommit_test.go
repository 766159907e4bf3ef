package queue

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-17 (the wake of owedsignal.go in the group commit): the servers a
// writer names (noteOwed) are woken only when that writer's change is
// durable. In a batch that fails because one writer's function failed,
// the others are committed alone (Store.commit's one-by-one retry) and
// keep their wake; the one that failed wakes no one for what it did not
// commit; a commit that fails entirely wakes nobody; and a writer set
// aside (UpdateDeferred) wakes no one until the commit that takes it.
func TestSR17OwedWakeFollowsTheWritersCommit(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{DeferLimit: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	owes := func(server, id string) bool {
		var ds []string
		s.View(func(tx *Tx) error { ds = tx.Discards(server, 10); return nil })
		return len(ds) == 1 && ds[0] == id
	}
	refusal := errors.New("this writer's own refusal")

	t.Run("a batch failed by one writer", func(t *testing.T) {
		pa, pb, pc := q.dsig.wait("hub-a"), q.dsig.wait("hub-b"), q.dsig.wait("hub-c")
		release := blockLeader(t, s)
		errs := make([]chan error, 3)
		for i, w := range []struct {
			server string
			fail   bool
		}{{"hub-a", false}, {"hub-b", true}, {"hub-c", false}} {
			errs[i] = make(chan error, 1)
			go func() {
				errs[i] <- s.Update(ctx, func(tx *Tx) error {
					if err := tx.AddDiscard(w.server, "id-"+w.server, clk.Now()); err != nil {
						return err
					}
					if w.fail {
						return refusal
					}
					return nil
				})
			}()
			waitFor(t, "the writer to queue", func() bool { return s.queued() == i+1 })
		}
		release()
		for i, want := range []error{nil, refusal, nil} {
			select {
			case err := <-errs[i]:
				if !errors.Is(err, want) && err != want {
					t.Fatalf("writer %d: %v, want %v", i, err, want)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("a queued writer was never answered")
			}
		}
		if !owes("hub-a", "id-hub-a") || !owes("hub-c", "id-hub-c") || owes("hub-b", "id-hub-b") {
			t.Fatal("the writers' changes are not as committed one by one: the test proves nothing")
		}
		if !woken(pa) || !woken(pc) {
			t.Fatalf("a writer committed alone after its batch failed lost its wake: hub-a %v, hub-c %v", woken(pa), woken(pc))
		}
		if woken(pb) {
			t.Fatal("hub-b's long poll was woken by a discard whose writer failed (rolled back)")
		}
	})

	t.Run("a commit that fails entirely", func(t *testing.T) {
		poll := q.dsig.wait("hub-f")
		disk := errors.New("no space left on device")
		s.setCommitFault(func(*Tx) error { return disk })
		err := s.Update(ctx, func(tx *Tx) error { return tx.AddDiscard("hub-f", "id-f", clk.Now()) })
		s.setCommitFault(nil)
		if !errors.Is(err, disk) {
			t.Fatalf("the commit: %v, want it failed", err)
		}
		if owes("hub-f", "id-f") {
			t.Fatal("the discard committed: the test proves nothing")
		}
		if woken(poll) {
			t.Fatal("hub-f's long poll was woken by a commit that failed")
		}
	})

	t.Run("a writer set aside", func(t *testing.T) {
		// q.dsig.wait, not DiscardSignal: the registration alone, which
		// does not flush what is set aside.
		poll := q.dsig.wait("hub-d")
		done := make(chan error, 1)
		go func() {
			done <- s.UpdateDeferred(func(tx *Tx) error { return tx.AddDiscard("hub-d", "id-d", clk.Now()) })
		}()
		waitFor(t, "the deferred writer to be set aside", func() bool { return s.queued() == 1 })
		if woken(poll) {
			t.Fatal("hub-d's long poll was woken while the discard owed to it was only set aside")
		}
		s.Flush()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the deferred writer was never committed by Flush")
		}
		if !owes("hub-d", "id-d") || !woken(poll) {
			t.Fatalf("after the commit that took the deferred writer: owed %v, woken %v", owes("hub-d", "id-d"), woken(poll))
		}
	})

	t.Run("a poll that registers after the signal", func(t *testing.T) {
		// waitDiscards registers, then reads: a commit whose wake came
		// before the registration is read at once (it is durable when
		// signalOwed runs), not slept on for the whole WAIT.
		if err := s.Update(ctx, func(tx *Tx) error { return tx.AddDiscard("hub-e", "id-e", clk.Now()) }); err != nil {
			t.Fatal(err)
		}
		poll := q.DiscardSignal("hub-e")
		if lines, _ := q.Discards("hub-e", 10); len(lines) != 1 || lines[0] != "id-e" {
			t.Fatalf("a poll registered after the wake reads %v, want the committed discard", lines)
		}
		if woken(poll) {
			t.Fatal("a registration after the signal found its channel closed: a stale wake")
		}
		q.dsig.signal("hub-e") // drain: no channel left behind for the next test
	})

	t.Run("a wake for a server no one waits for keeps nothing", func(t *testing.T) {
		q.dsig.mu.Lock()
		before := len(q.dsig.chs)
		q.dsig.mu.Unlock()
		for i := range 50 {
			server := "lone-" + string(rune('a'+i%26)) + string(rune('a'+i/26))
			if err := s.Update(ctx, func(tx *Tx) error { return tx.AddDiscard(server, "id", clk.Now()) }); err != nil {
				t.Fatal(err)
			}
		}
		q.dsig.mu.Lock()
		after := len(q.dsig.chs)
		q.dsig.mu.Unlock()
		if after != before {
			t.Fatalf("the wake table grew from %d to %d by wakes for servers no one waits for", before, after)
		}
	})
}
