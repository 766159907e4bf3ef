package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// Q-6 (reread of the lending): TestHungDestinationLendsTheReserveToOthers with the hung
// destination's window below the active set (max_connections 1): the
// only destination with mail takes the whole set of 2, one job running
// (hung) and one waiting for its window. Once the running job is
// overdue the set should lend the reserve as it does when sessions fill
// it; claimLimit counts only overdue running jobs (1 + share 1 = 2 =
// max_active), so the healthy mail waits for the hung session to end.
func TestQ6HungDestinationWithWaitingJobsLendsTheReserve(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Now())
	slow, open := turnsHungHop(t, 1)
	h := &smtpHops{addrs: map[string]string{"slow.test": slow, "fast.test": healthyHop(t)}, done: map[string]int{}}
	q := NewManager(s, h, ManagerConfig{MaxActive: 2, Clock: clk, Scheduler: SchedulerConfig{InitialWindow: 1, MaxWindow: 1}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	if err := q.Submit(ctx, msg(s, "a@example.org", "x@slow.test"), []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first message to slow.test delivered", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.done["slow.test"] == 1
	})
	for range 2 {
		if err := q.Submit(ctx, msg(s, "a@example.org", "x@slow.test"), []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the hung next hop holding a session", func() bool { return open.Load() >= 1 })
	time.Sleep(300 * time.Millisecond)
	for _, d := range q.Destinations() {
		t.Logf("dest %s running %d waiting %d window %d", d.Name, d.Running, d.Waiting, d.Window)
	}
	fast := msg(s, "a@example.org", "y@fast.test")
	if err := q.Submit(ctx, fast, []byte(body)); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		clk.Advance(2 * time.Second) // the hung session overdue (a second at least), well within command_timeout
		q.Kick()
		time.Sleep(200 * time.Millisecond)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		h.mu.Lock()
		n := h.done["fast.test"]
		h.mu.Unlock()
		if n == 1 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, d := range q.Destinations() {
		t.Logf("dest %s running %d waiting %d window %d", d.Name, d.Running, d.Waiting, d.Window)
	}
	t.Fatalf("the healthy message was not delivered while the hung session (overdue) hung: %d open; its job waiting behind the window held the set", open.Load())
}
