package queue

import (
	"testing"
	"time"

	"umbra/internal/clock"
)

// panickingLimiter is a deliverer whose destination limit panics (a
// defect of the deliverer's, reached under the scheduler's lock).
type panickingLimiter struct{ *scripted }

func (panickingLimiter) DestinationLimit(string) (int, bool) { panic("limit") }

// TestReloadPanicLeavesSchedulerUnlocked: a panic in what SetReloadable
// asks the deliverer under the scheduler's lock (its destination limit)
// leaves the lock free: the reload that recovers it finds a scheduler
// that still hands out work. It left s.mu held, and every later job
// waited for good. Q-6, OPS-1.
func TestReloadPanicLeavesSchedulerUnlocked(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, panickingLimiter{newScripted(nil)}, ManagerConfig{Clock: clk,
		Scheduler: SchedulerConfig{InitialWindow: 5, MaxWindow: 10}})
	q.sched.mu.Lock()
	q.sched.destFor("mx:example.net", "mx:example.net", 0)
	q.sched.mu.Unlock()
	func() {
		defer func() { recover() }()
		q.SetReloadable(3, 0)
		t.Fatal("the limiter did not panic")
	}()
	if !q.sched.mu.TryLock() {
		t.Fatal("the scheduler's lock stayed held after a panic under SetReloadable")
	}
	q.sched.mu.Unlock()
}
