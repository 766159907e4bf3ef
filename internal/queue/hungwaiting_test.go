package queue

import (
	"testing"
	"time"
)

// Q-6 (reread of the lending): TestHungDestinationLendsTheReserveToOthers with the hung
// destination's window below the active set (max_connections 1): the
// only destination with mail takes the whole set of 2, one job running
// (hung) and one waiting for its window. Once the running job is
// overdue the set should lend the reserve as it does when sessions fill
// it; claimLimit counts only overdue running jobs (1 + share 1 = 2 =
// max_active), so the healthy mail waits for the hung session to end.
func TestQ6HungDestinationWithWaitingJobsLendsTheReserve(t *testing.T) {
	slow, open := turnsHungHop(t, 1)
	r := startHopRig(t, openTest(t), map[string]string{"slow.test": slow, "fast.test": healthyHop(t)}, nil,
		ManagerConfig{MaxActive: 2, Scheduler: SchedulerConfig{InitialWindow: 1, MaxWindow: 1}})
	q := r.q
	r.deliverFirst(t, "slow.test")
	r.submit(t, 2, "x@slow.test")
	waitFor(t, "the hung next hop holding a session", func() bool { return open.Load() >= 1 })
	time.Sleep(300 * time.Millisecond)
	for _, d := range q.Destinations() {
		t.Logf("dest %s running %d waiting %d window %d", d.Name, d.Running, d.Waiting, d.Window)
	}
	r.submit(t, 1, "y@fast.test")
	for range 5 {
		r.clk.Advance(2 * time.Second) // the hung session overdue (a second at least), well within command_timeout
		q.Kick()
		time.Sleep(200 * time.Millisecond)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if r.h.delivered("fast.test") == 1 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, d := range q.Destinations() {
		t.Logf("dest %s running %d waiting %d window %d", d.Name, d.Running, d.Waiting, d.Window)
	}
	t.Fatalf("the healthy message was not delivered while the hung session (overdue) hung: %d open; its job waiting behind the window held the set", open.Load())
}
