package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// Settings a reload changes reach the scheduler and the duplicate
// records: max_connections_per_destination bounds a destination whose
// job names no limit, and the duplicate window (message_expiration or
// max_dumpster_time, whichever is longer) decides what the pruning
// forgets.
func TestReloadedLimitsApply(t *testing.T) {
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	q := NewManager(s, newScripted(nil), ManagerConfig{Clock: clk, DuplicateWindow: 48 * time.Hour,
		Scheduler: SchedulerConfig{InitialWindow: 5, MaxWindow: 10}})
	q.SetReloadable(3, 24*time.Hour)
	q.sched.mu.Lock()
	d := q.sched.destFor("mx:example.net", "mx:example.net", 0)
	q.sched.mu.Unlock()
	if d.max != 3 || d.window != 3 {
		t.Fatalf("destination limit %d window %d, want 3 and 3", d.max, d.window)
	}
	s.Update(context.Background(), func(tx *Tx) error {
		return tx.RecordDelivered("DB01", "org-1", "u@example.test", t0)
	})
	q.pruneBacklog(t0.Add(30 * time.Hour)) // past the new window, inside the old
	s.View(func(tx *Tx) error {
		if tx.WasDelivered("DB01", "org-1", "u@example.test") {
			t.Fatal("the duplicate record outlived the reloaded window")
		}
		return nil
	})
}
