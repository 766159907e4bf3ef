package queue

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"umbra/internal/clock"
)

// Q-6 (no head-of-line blocking), a sibling of the mailbox's turn
// (delivery mailboxturn.go): a suspect waiting for the suspects' turn
// (suspectgate.go) waits on this server's own serialisation, not on a
// peer, and held its message's slot of the active set meanwhile. With
// max_active 2, one suspect hung on its next hop and a second waiting
// for the turn held the whole set: a message that counted no crash —
// never gated by the turn — waited in the time index until the turn's
// bound passed (the fake clock never moves here). The waiting suspect
// lends its slot now, and the other message is delivered beside them.
func TestQ6SuspectWaitingForTurnHoldsNoActiveSlot(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ids := submitReady(t, s, 2)
	if err := s.Update(context.Background(), func(tx *Tx) error {
		for _, id := range ids {
			m, err := tx.Get(id)
			if err != nil {
				return err
			}
			m.CrashCount = 1
			if err := tx.Put(m); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Now().Add(time.Second))
	hung := make(chan struct{}, 2)
	release := make(chan struct{})
	delivered := make(chan ID, 1)
	q := NewManager(s, DelivererFunc(func(ctx context.Context, m *Message, _ []byte, rcpts []int) []Result {
		if m.CrashCount > 0 {
			defer AwaitingPeer(ctx)()
			hung <- struct{}{}
			select {
			case <-release:
			case <-ctx.Done():
			}
			return nil
		}
		delivered <- m.ID
		out := make([]Result, len(rcpts))
		for k, i := range rcpts {
			out[k] = Result{Rcpt: i, Outcome: RelayedOK, Reply: "250 ok"}
		}
		return out
	}), ManagerConfig{MaxActive: 2, PoisonThreshold: 5, Clock: clk})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { close(release); cancel(); q.Wait(); s.Close() }()
	q.Start(ctx)
	select {
	case <-hung: // one suspect holds the turn, hung on its peer; the other waits for it
	case <-time.After(20 * time.Second): // a bound on the test
		t.Fatal("no suspect reached its next hop")
	}
	other := msg(s, "a@example.org", "c@other.example")
	if err := q.Submit(ctx, other, []byte(body)); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-delivered:
		if id != other.ID {
			t.Fatalf("delivered %s, want %s", id, other.ID)
		}
	case <-time.After(20 * time.Second): // a bound on the test, not a timing assertion
		t.Fatal("a message that counted no crash waited behind a suspect waiting for the suspects' turn")
	}
	select {
	case <-hung:
		t.Fatal("two suspects past the turn at once")
	default:
	}
}
