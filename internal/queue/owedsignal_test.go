package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// woken reports whether ch (a DiscardSignal) is closed: the long poll
// waiting on it is answered now. The commit under test has returned, so
// its wake, if it is made, is made already.
func woken(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// SR-17 (rt44 shadowrcpt3 F1, its siblings): every commit that owes a
// shadow server a notification wakes that server's waiting long poll
// (XQUERYDISCARD WAIT=), whichever path wrote it — not only the paths
// that signal after their own commit (a delivery's results, a hold).
// The discard owed to a server pushed a copy on receipt without
// confirmation, written when the copy is made on another server, was
// answered only at its next poll: with this server lost in between,
// both servers took the message over and delivered it.
func TestSR17OwedNotificationWakesTheWaitingLongPoll(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })
	hung := DelivererFunc(func(ctx context.Context, _ *Message, _ []byte, _ []int) []Result {
		select {
		case <-hang:
		case <-ctx.Done():
		}
		return nil
	})
	deferred := DelivererFunc(func(_ context.Context, _ *Message, _ []byte, rcpts []int) []Result {
		out := make([]Result, 0, len(rcpts))
		for _, i := range rcpts {
			out = append(out, Result{Rcpt: i, Outcome: Deferred, Queue: "mx:b.example", Reply: "451 4.4.1 try later"})
		}
		return out
	})
	// submitted submits a message whose copy on receipt went to server,
	// and waits (bounded) until its first attempt left it in state.
	submitted := func(q *Manager, s *Store, server string, state State) *Message {
		m := receiptCopy(s, "x@b.example")
		m.ShadowServer, m.ShadowID = server, m.OrgID
		if err := q.Submit(ctx, m, []byte(body)); err != nil {
			t.Fatal(err)
		}
		for i := 0; ; i++ {
			if o, err := q.Message(m.ID); err == nil && o.State == state && (state != Ready || o.Attempts > 0) {
				break
			}
			if i == 500 {
				t.Fatalf("the message never reached state %v", state)
			}
			time.Sleep(10 * time.Millisecond)
		}
		return m
	}
	owes := func(s *Store, server, id string) bool {
		var ds []string
		s.View(func(tx *Tx) error { ds = tx.Discards(server, 10); return nil })
		return len(ds) == 1 && ds[0] == id
	}

	for _, c := range []struct {
		name  string
		d     Deliverer
		state State
		path  string
	}{
		{"unconfirmed push, copy made again in delivery", hung, Active, "discardUnconfirmedInDelivery"},
		{"unconfirmed push, copy made again out of delivery", deferred, Ready, "nameCopyHolder"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t)
			q := NewManager(s, c.d, ManagerConfig{Clock: clk})
			m := submitted(q, s, "hub-b", c.state)
			if err := q.MarkSingleCopy(m.ID, "hub-b", ""); err != nil { // not answered in time
				t.Fatal(err)
			}
			poll := q.DiscardSignal("hub-b")
			if err := q.ShadowRecopied(m.ID, "hub-c"); err != nil {
				t.Fatal(err)
			}
			if !owes(s, "hub-b", m.OrgID) {
				t.Fatal("no discard owed to hub-b: the test proves nothing")
			}
			if !woken(poll) {
				t.Fatalf("hub-b's waiting long poll was not woken by the discard owed to it (%s)", c.path)
			}
		})
	}

	t.Run("copy made again for a message gone meanwhile", func(t *testing.T) {
		s := openTest(t)
		q := NewManager(s, hung, ManagerConfig{Clock: clk})
		gone := receiptCopy(s, "x@b.example")
		poll := q.DiscardSignal("hub-c")
		if err := q.ShadowRecopiedOrg(gone.ID, gone.OrgID, "hub-c"); err != nil {
			t.Fatal(err)
		}
		if !owes(s, "hub-c", gone.OrgID) {
			t.Fatal("no discard owed to hub-c: the test proves nothing")
		}
		if !woken(poll) {
			t.Fatal("hub-c's waiting long poll was not woken by the discard of the copy no record needs (ShadowRecopiedOrg)")
		}
	})

	t.Run("a partial discard, whichever path writes it", func(t *testing.T) {
		s := openTest(t)
		q := NewManager(s, hung, ManagerConfig{Clock: clk})
		poll := q.DiscardSignal("hub-d")
		other := q.DiscardSignal("hub-e")
		if err := s.Update(ctx, func(tx *Tx) error {
			return tx.AddPartialDiscard("HUB-D", "0123456789abcdef0123456789abcdef", []string{"x@b.example"}, clk.Now())
		}); err != nil {
			t.Fatal(err)
		}
		if !woken(poll) {
			t.Fatal("hub-d's waiting long poll was not woken by a partial discard owed to it (the name in another case)")
		}
		if woken(other) {
			t.Fatal("hub-e's long poll was woken by a notification for hub-d")
		}
	})

	t.Run("a discard filed under an alias of the holder's database", func(t *testing.T) {
		// rt21a H1's typo: hub-b's database met under Hub-B2; hub-b's
		// session fetches what is filed under Hub-B2 (holdernames.go),
		// so its wait is woken by it too.
		s := openTest(t)
		q := NewManager(s, hung, ManagerConfig{Clock: clk})
		if _, _, err := q.ShadowHolderSeen("hub-b", "dbB"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := q.ShadowHolderSeen("Hub-B2", "dbB"); err == nil {
			t.Fatal("hub-b's database under Hub-B2 not refused: no alias, the test proves nothing")
		}
		poll := q.DiscardSignal("hub-b")
		if err := s.Update(ctx, func(tx *Tx) error { return tx.AddDiscard("Hub-B2", "typo-done", clk.Now()) }); err != nil {
			t.Fatal(err)
		}
		if lines, _ := q.Discards("hub-b", 10); len(lines) != 1 || lines[0] != "typo-done" {
			t.Fatalf("owed to hub-b: %v; want the discard filed under its alias", lines)
		}
		if !woken(poll) {
			t.Fatal("hub-b's waiting long poll was not woken by a discard filed under an alias of its database")
		}
	})
}
