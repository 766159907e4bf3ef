package queue

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"umbra/internal/clock"
)

// A message submitted while its destination is dead is answered at once
// ("451 4.4.1 … is dead") — and that answer's commit, which nobody waits
// for, may be set aside for DeferLimit. Submit must not wait for it: it
// runs on the receiving session's goroutine, whose sender waits for the
// 250 (found as ~10 ms added to every reply to DATA while the next hop
// was down, BENCHMARKS.md). Here DeferLimit is an hour: a Submit that
// waited for the results' commit would not return.
func TestSubmitDoesNotWaitForDeadDestinationResults(t *testing.T) {
	s := openDeferring(t, filepath.Join(t.TempDir(), "queue.db"), time.Hour, nil)
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	p := newPlanned()
	p.refuse["down.test"] = true
	q := NewManager(s, p, ManagerConfig{MaxActive: 100, Clock: clk,
		Scheduler: SchedulerConfig{InitialWindow: 1, DeadCoolDown: time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { close(p.stop); cancel(); q.Wait() }()
	q.Start(ctx)
	submit := func() <-chan error {
		done := make(chan error, 1)
		go func() {
			m := msg(s, "a@example.org", "x@down.test")
			done <- q.Submit(ctx, m, []byte(body))
		}()
		return done
	}
	if err := <-submit(); err != nil { // its attempt fails the cohort of one: dead
		t.Fatal(err)
	}
	waitFor(t, "the destination to be dead", func() bool {
		for _, d := range q.Destinations() {
			if d.Name == "mx/down.test" && d.State == "dead" {
				return true
			}
		}
		return false
	})
	select {
	case err := <-submit():
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Submit to a dead destination waits for its deferred results' commit")
	}
}

// The same for a message whose every recipient is held back at its start
// because its destination already holds its share of a crowded active
// set (throttled): that attempt's commit, too, nobody waits for, and
// Submit must not wait for it.
func TestSubmitDoesNotWaitForThrottledResults(t *testing.T) {
	s := openDeferring(t, filepath.Join(t.TempDir(), "queue.db"), time.Hour, nil)
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	p := newPlanned()
	p.stall["slow.test"] = true
	q := NewManager(s, p, ManagerConfig{MaxActive: 8, Clock: clk, Scheduler: SchedulerConfig{InitialWindow: 2}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { close(p.stop); cancel(); q.Wait() }()
	q.Start(ctx)
	for i := 0; i < 7; i++ {
		done := make(chan error, 1)
		go func() { done <- q.Submit(ctx, msg(s, "a@example.org", "x@slow.test"), []byte(body)) }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("Submit %d (a crowded active set holds it back) waits for its deferred results' commit", i+1)
		}
	}
}
