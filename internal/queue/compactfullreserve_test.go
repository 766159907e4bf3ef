package queue

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// Q-5 on a full disk after db compact (rt45 F1), on a real bbolt file
// on a tmpfs of its own: the compacted file has no free page, so the
// start's own commit and every claim must grow it, which the full disk
// refuses. The start's commit gives up the space reserve the last run
// left (Options.SpaceReserve: made again before that commit), and a
// claim halved down to one gives it up when the start did not: the
// queue is delivered while the disk stays full. Before: no claim ever
// committed (the claim used a plain commit and never the reserve).
func TestQ5ClaimOnFullDiskAfterCompactUsesSpaceReserve(t *testing.T) {
	// The reserve made by the open (the daemon's way) and given up by
	// the start's commit; and made after it, so that the start's commit
	// finds the free pages the compaction's own commits left and the
	// claims meet the full disk with the reserve whole.
	t.Run("by the open", func(t *testing.T) { claimAfterCompact(t, true) })
	t.Run("after the open", func(t *testing.T) { claimAfterCompact(t, false) })
}

func claimAfterCompact(t *testing.T, atOpen bool) {
	dir := smallDisk(t, "4m")
	path := filepath.Join(dir, "queue.db")
	reserve := int64(256 << 10)
	s, err := Open(path, Options{SpaceReserve: &reserve})
	if err != nil {
		t.Fatal(err)
	}
	if held, _ := s.SpaceReserveHeld(); !held {
		t.Fatal("no space reserve made on the tmpfs")
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const n = 20
	for range n {
		m := msg(s, "a@example.org", "x@example.test")
		m.State, m.NextAttempt = Ready, t0.Add(-time.Minute)
		if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(m, []byte(strings.Repeat("y", 3000))) }); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	if _, _, err := Compact(path); err != nil {
		t.Fatal(err)
	}
	fillDisk(t, dir)
	o := Options{SpaceReserve: &reserve}
	if !atOpen {
		o = Options{}
	}
	s, err = Open(path, o)
	if err != nil && !atOpen {
		t.Skipf("the start's commit found no free page in this compacted file: %v", err)
	}
	if err != nil {
		t.Fatalf("a start on a full disk with a compacted database holding mail: %v", err)
	}
	defer s.Close()
	if !atOpen {
		s.StartSpaceReserve(reserve, nil) // the last run's file, made again: the disk stays full
		if held, _ := s.SpaceReserveHeld(); !held {
			t.Fatal("the space reserve was not made again from the last run's room")
		}
	}
	clk := clock.NewFake(t0)
	hop := startCountingHop(t)
	q, _ := startManager(t, s, relayTo(hop), ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Hour}})
	deadline := time.Now().Add(20 * time.Second)
	for hop.accepted.Load() < n && time.Now().Before(deadline) {
		clk.Advance(claimRetry)
		q.Kick()
		time.Sleep(20 * time.Millisecond)
	}
	if got := hop.accepted.Load(); got != n {
		c, _ := q.ClaimTrouble()
		t.Fatalf("%d of %d messages delivered on the full disk (reserve used %d times; claims: %+v)", got, n, s.SpaceReserveUsed(), c)
	}
	if s.SpaceReserveUsed() != 1 {
		t.Errorf("the space reserve was given up %d times, want once", s.SpaceReserveUsed())
	}
}
