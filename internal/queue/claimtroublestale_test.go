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

// rt45 F1's listings: the claim trouble was forgotten only by a claim
// that committed. Once the mail whose claims failed is gone (removed by
// the operator, here), nothing is due, no claim is made, and every
// listing went on saying "claiming due messages for delivery fails …
// none is delivered until a claim commits" for as long as the daemon
// ran with nothing due. A pass that finds nothing due forgets it too.
func TestOPSClaimTroubleForgottenWhenNothingIsDue(t *testing.T) {
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := msg(s, "a@example.org", "x@example.test")
	m.State, m.NextAttempt = Ready, t0.Add(-time.Minute)
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	var fail atomic.Bool
	fail.Store(true)
	s.setCommitFault(func(tx *Tx) error {
		if fail.Load() {
			return fmt.Errorf("write %s: %w", s.db.Path(), syscall.ENOSPC)
		}
		return nil
	})
	clk := clock.NewFake(t0)
	hop := startCountingHop(t)
	q, _ := startManager(t, s, relayTo(hop), ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Hour}})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, ok := q.ClaimTrouble(); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no claim trouble noted while every claim fails")
		}
		time.Sleep(10 * time.Millisecond)
	}
	fail.Store(false)
	if err := q.RemoveMessage(context.Background(), m.ID, false); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if _, ok := q.ClaimTrouble(); !ok {
			return
		}
		clk.Advance(2 * time.Second)
		q.Kick()
		time.Sleep(20 * time.Millisecond)
	}
	c, _ := q.ClaimTrouble()
	t.Fatalf("nothing is due, yet the listings still say: %s", c.Text())
}
