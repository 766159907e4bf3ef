package queue

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/clock"
)

// A process that did not run for longer than a shadow server may wait
// before it takes copies over (SIGSTOP, a long stall) asks its holders
// what they finished before its next attempt starts, as a start does
// (SR-, shadow redundancy: the returning primary neither delivers nor
// bounces again what the shadow server finished; rt20f-F2). The fake
// clock's Advance is the stall: the monotonic clock runs on while the
// process is stopped, so every timer fires that much late at once — the
// overdue retry and the guard's tick together.
func TestStallAsksHoldersBeforeNextAttempt(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	accept := false
	d, del := queuedDeliverer(&accept)
	q := NewManager(s, del, ManagerConfig{Clock: clk, Hostname: "mx.test", RetrySchedule: []time.Duration{time.Minute}})
	const delay = 5 * time.Minute
	var rounds atomic.Int32
	began := make(chan struct{}, 4)
	release := make(chan struct{})
	q.GuardStall(func() time.Duration { return delay }, func(ctx context.Context) {
		rounds.Add(1)
		began <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)

	m := msg(s, "a@example.org", "x@slow.example")
	q.Submit(ctx, m, []byte(body))
	d.wait(t)
	waitFor(t, "deferral", func() bool { got, _ := q.Message(m.ID); return got != nil && got.State == Ready })

	// A retry that falls due in time is no stall: no round.
	clk.Advance(61 * time.Second)
	d.wait(t)
	waitFor(t, "second deferral", func() bool { got, _ := q.Message(m.ID); return got != nil && got.State == Ready })
	if n := rounds.Load(); n != 0 {
		t.Fatalf("%d rounds without a stall, want 0", n)
	}

	// The stall: the retry is overdue when the process runs on.
	clk.Advance(delay + time.Minute)
	select {
	case <-began:
	case <-time.After(10 * time.Second):
		t.Fatal("no round of questions to the holders after a stall longer than the takeover delay")
	}
	select {
	case <-d.calls:
		t.Fatal("an attempt started while the holders were being asked after the stall")
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	d.wait(t) // the overdue retry runs once the round ended
	if n := rounds.Load(); n != 1 {
		t.Fatalf("%d rounds after one stall, want 1", n)
	}
}
