package queue

import (
	"context"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"umbra/internal/clock"
)

// rr35 (c2b5c2bf): once the claim's size settles at what the room left
// allows, "each claim that commits takes one halving back": the next
// claim is twice that and fails, so every other claim fails and costs
// claimRetry — the backlog drains at half speed, each failure a failed
// commit counted and, once a minute, logged as an error.
func TestClaimSizeSettledDoesNotFailEveryOtherClaim(t *testing.T) {
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	hop := startCountingHop(t)
	const backlog, fits = 64, 4
	for range backlog {
		m := msg(s, "a@example.org", "x@example.test")
		m.State, m.NextAttempt = Ready, t0.Add(-time.Minute)
		if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
			t.Fatal(err)
		}
	}
	var failed atomic.Int32
	s.setCommitFault(func(tx *Tx) error {
		if n := len(tx.ActiveIDs()); n > fits {
			failed.Add(1)
			return fmt.Errorf("write %s: %w", s.db.Path(), syscall.ENOSPC)
		}
		return nil
	})
	q, _ := startManager(t, s, relayTo(hop), ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Hour}})
	deadline := time.Now().Add(20 * time.Second)
	for hop.accepted.Load() < backlog && time.Now().Before(deadline) {
		clk.Advance(claimRetry)
		q.Kick()
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("delivered %d of %d; %d failed commits", hop.accepted.Load(), backlog, failed.Load())
	if n := hop.accepted.Load(); n != backlog {
		t.Fatalf("%d of %d delivered", n, backlog)
	}
	// Halving 64 to 4 takes 4 failures; a few more as the room moves.
	if n := failed.Load(); n > 16 {
		t.Errorf("%d claims failed for want of room to deliver %d messages %d at a time: the claim grows back past the room after every commit", n, backlog, fits)
	}
}
