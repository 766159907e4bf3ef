package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-6, SR-16 (watch40 item 3): the stall guard's bound is the shortest
// takeover a holder can be set to — shadow_heartbeat_timeout 1s with
// shadow_heartbeat_retry_count 1: one failed heartbeat, about a second
// after the last contact. A stall a little longer than that (1.5 s here)
// may have let a holder take the copies over, and must be noticed: the
// guard's floor of two one-second ticks (2 s) let it pass, the primary
// resumed and delivered again what the holder took over. The guard reads
// the clock often enough (a quarter of the bound) to notice any stall
// longer than the bound.
func TestStallJustPastShortestTakeoverIsNoticed(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	accept := false
	_, del := queuedDeliverer(&accept)
	q := NewManager(s, del, ManagerConfig{Clock: clk, Hostname: "mx.test", RetrySchedule: []time.Duration{time.Minute}})
	began := make(chan struct{}, 4)
	q.GuardStall(func() time.Duration { return time.Second }, func(ctx context.Context) { // serve.go stallAfter
		began <- struct{}{}
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	waitFor(t, "the guard's tick armed", func() bool { return clk.Pending() >= 1 })

	clk.Advance(1500 * time.Millisecond) // the stall: every timer fires that late at once
	select {
	case <-began:
	case <-time.After(10 * time.Second):
		t.Fatal("no round of questions to the holders after a 1.5 s stall, longer than the shortest takeover (1 s)")
	}
}
