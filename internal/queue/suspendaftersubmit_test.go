package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// an operator's hold right after acceptance. Submit hands the
// message to an attempt of its own; its job returns at once (nothing
// delivered, nothing refused), and the attempt's end commits the
// results. A SuspendMessage that came between the job's return and
// that commit found the record Active with no settling mark and was
// refused ErrBusy ("being delivered; try again"), though nothing was
// being delivered any more: the tests retried it. The end now marks the
// message settling until its commit, and the hold waits for it.
func TestQ4SuspendRightAfterSubmitWaitsForTheAttemptsCommit(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, DelivererFunc(func(_ context.Context, _ *Message, _ []byte, rcpts []int) []Result {
		var out []Result
		for _, i := range rcpts {
			out = append(out, Result{Rcpt: i, Outcome: Deferred, Queue: "mx:b.example", Reply: "451 4.4.1 connect to mx.b.example[192.0.2.9]:25: connection refused"})
		}
		return out
	}), ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	ended, release := make(chan ID, 1), make(chan struct{})
	hook := func(id ID) { ended <- id; <-release }
	q.sched.endReadHook.Store(&hook)
	m := msg(s, "a@example.org", "x@b.example")
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ended: // the job returned; the end's commit is held here
	case <-time.After(10 * time.Second):
		t.Fatal("the attempt did not end")
	}
	done := make(chan error, 1)
	go func() { done <- q.SuspendMessage(ctx, m.ID) }()
	var early error
	select {
	case early = <-done: // answered before the commit: it did not wait
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	err := early
	if early == nil {
		select {
		case err = <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("the hold did not return after the attempt's commit")
		}
	}
	if err != nil {
		t.Fatalf("hold right after acceptance, the attempt's results being committed: %v; want it to wait for the commit and hold", err)
	}
	if got, _ := q.Message(m.ID); got == nil || got.State != Suspended {
		t.Fatalf("after the hold: %+v; want it suspended", got)
	}
}
