package queue

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/clock"
)

// handedCopyFixture: a copy of hub-a's (database dbA) taken over here for
// failed heartbeats and handed to hub-c in a shadow session: the record
// keeps the recipients for hub-c, with a handed note each for hub-a.
// Once handed on, the deliverer fails every attempt as the next hop's
// refusal (the copy taken over again at its expiry fails here).
func handedCopyFixture(t *testing.T, clk *clock.Fake, rcpts ...string) (*Manager, *Store, *Message) {
	t.Helper()
	const org = "0123456789abcdef0123456789abcdef"
	var handed atomic.Bool
	qS, sS, c := takenCopyRunning(t, clk, ManagerConfig{RetrySchedule: []time.Duration{time.Hour}, MessageExpiration: 48 * time.Hour}, org, func(m *Message, i int) Result {
		if handed.Load() {
			return Result{Rcpt: i, Outcome: Deferred, Queue: "site:b", Reply: "451 4.4.1 later"}
		}
		return Result{Rcpt: i, Outcome: ShadowedOK, Queue: "site:b", Primary: "hub-c", PrimaryAddr: "127.0.0.3:25",
			ShadowID: m.ID.String() + "-1", Reply: "250 ok"}
	}, rcpts...)
	waitFor(t, "the taken-over copy handed to hub-c", func() bool {
		got, _ := qS.Message(c.ID)
		return got != nil && got.State == Shadow && len(got.Pending()) == 0
	})
	handed.Store(true)
	if n := handedNoteCount(t, sS); n != len(rcpts) {
		t.Fatalf("%d handed notes, want %d", n, len(rcpts))
	}
	return qS, sS, c
}

func handedNoteCount(t *testing.T, s *Store) int {
	t.Helper()
	n := 0
	if err := s.View(func(tx *Tx) error {
		return tx.tx.Bucket(bucketTakenHanded).ForEach(func(k, v []byte) error { n++; return nil })
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// SR-6, SR-7: a copy taken over from hub-a and handed to hub-c, whose
// discard never comes, is taken over here at its expiry and fails here
// (its DSN from here): hub-a, back with its database, is told it failed
// here and sends no second DSN — the handed note turns into that note.
func TestSR6HandedCopyExpiredHereNotedFailedForFirstPrimary(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	qS, sS, c := handedCopyFixture(t, clk, "h@x.example")
	clk.Advance(48*time.Hour + shadowExpiryGrace + time.Minute)
	qS.pruneDiscards(clk.Now())
	qS.Kick()
	waitFor(t, "the expired copy failed here", func() bool {
		_, err := qS.Message(c.ID)
		return errors.Is(err, ErrNotFound)
	})
	ns, _ := qS.TakenDoneFor("dbA", 10)
	if len(ns) != 1 || ns[0] != (TakenDone{ID: c.OrgID, Addr: "h@x.example", Kind: TakenFailed}) {
		t.Fatalf("notes for dbA after the handed copy expired here: %+v, want h@ failed", ns)
	}
	if n := handedNoteCount(t, sS); n != 0 {
		t.Fatalf("%d handed notes left", n)
	}
}

// SR-6, SR-7: the copy kept here for hub-c removed by the administrator
// (message remove --force): hub-c is told and makes its copy again
// (droppedcopy.go), under another id — hub-c's discard of it never
// settles the record removed, so nothing can tell hub-a that hub-c
// finished the recipient. hub-a gets no note (no loss: hub-c may still
// lose it; hub-a's original is then the one left), and the handed note
// goes with the record instead of lingering until pruned.
func TestSR6HandedCopyRemovedHereNotNotedForFirstPrimary(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	qS, sS, c := handedCopyFixture(t, clk, "h@x.example", "h2@x.example")
	if err := qS.RemoveMessageForce(context.Background(), c.ID, false); err != nil {
		t.Fatal(err)
	}
	if ns, _ := qS.TakenDoneFor("dbA", 10); len(ns) != 0 {
		t.Fatalf("notes for dbA after the copy kept for hub-c was removed: %+v, want none", ns)
	}
	if n := handedNoteCount(t, sS); n != 0 {
		t.Fatalf("%d handed notes left after the record went", n)
	}
	// hub-c's discard of the copy, later, finds nothing and notes nothing.
	if _, err := qS.ApplyDiscards("hub-c", []string{c.ID.String() + "-1"}); err != nil {
		t.Fatal(err)
	}
	if ns, _ := qS.TakenDoneFor("dbA", 10); len(ns) != 0 {
		t.Fatalf("notes for dbA after hub-c's discard of the removed copy: %+v", ns)
	}
}
