package queue

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"umbra/internal/clock"
)

// Q-5 (full-disk claims): a claim whose commit finds no room is made again
// with half as many messages, down to one — README: "a backlog all due
// at once is delivered as far as the room left allows". A message whose
// own claim does not fit (its record needs more new pages than the full
// disk has, while the small ones fit) is the oldest due: every claim of
// one takes it first, fails, and the rest of the backlog, whose claims
// fit, is never claimed — the loop fails the same one-message claim
// every second for as long as the disk stays full.
func TestClaimOfOneThatDoesNotFitDoesNotHoldTheBacklog(t *testing.T) {
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	hop := startCountingHop(t)
	put := func(due time.Time) *Message {
		m := msg(s, "a@example.org", "x@example.test")
		m.State, m.NextAttempt = Ready, due
		if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
			t.Fatal(err)
		}
		return m
	}
	big := put(t0.Add(-10 * time.Minute)) // the oldest due
	const small = 12
	for range small {
		put(t0.Add(-time.Minute))
	}
	// The full disk: a commit that makes big Active needs room it does
	// not have; every other commit fits.
	var full atomic.Bool
	full.Store(true)
	s.setCommitFault(func(tx *Tx) error {
		if m, err := tx.Get(big.ID); full.Load() && err == nil && m.State == Active {
			return fmt.Errorf("write %s: %w", s.db.Path(), syscall.ENOSPC)
		}
		return nil
	})
	q, _ := startManager(t, s, relayTo(hop), ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Hour}})
	deadline := time.Now().Add(15 * time.Second)
	for hop.accepted.Load() < small && time.Now().Before(deadline) {
		clk.Advance(claimRetry)
		q.Kick()
		time.Sleep(20 * time.Millisecond)
	}
	if n := hop.accepted.Load(); n < small {
		t.Fatalf("%d of the %d messages whose claims fit were delivered while the oldest one's claim found no room (%d seconds of fake time); want all of them",
			n, small, int(clk.Now().Sub(t0)/time.Second))
	}
	// Not dropped: once there is room, it goes too.
	if m, err := q.Message(big.ID); err != nil || m.State == Active {
		t.Fatalf("the message whose claim did not fit: %+v, %v; want it kept, not in delivery", m, err)
	}
	full.Store(false) // room again
	deadline = time.Now().Add(15 * time.Second)
	for {
		clk.Advance(claimRetry)
		q.Kick()
		if _, err := q.Message(big.ID); errors.Is(err, ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the message whose claim did not fit was never delivered once there was room")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := hop.accepted.Load(); n != small+1 {
		t.Fatalf("the next hop accepted %d messages, want %d (each once)", n, small+1)
	}
}
