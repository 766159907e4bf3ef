package queue

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// stallJitterManager starts a manager whose stall guard has the
// shortest bound (serve.go stallAfter, 1 s) and whose round counts
// itself and holds until release gets a value (or the test ends).
func stallJitterManager(t *testing.T, log *slog.Logger) (q *Manager, clk *clock.Fake, began chan struct{}, release chan struct{}) {
	t.Helper()
	s := openTest(t)
	clk = clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	accept := false
	_, del := queuedDeliverer(&accept)
	q = NewManager(s, del, ManagerConfig{Clock: clk, Hostname: "mx.test", RetrySchedule: []time.Duration{time.Minute}, Log: log})
	began = make(chan struct{}, 16)
	release = make(chan struct{}, 16)
	q.GuardStall(func() time.Duration { return time.Second }, func(ctx context.Context) {
		began <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); q.Wait() })
	q.Start(ctx)
	return q, clk, began, release
}

// stallLast is the guard's last reading.
func stallLast(q *Manager) time.Duration {
	q.stall.mu.Lock()
	defer q.stall.mu.Unlock()
	return q.stall.last
}

// guardRead advances the fake clock by d and waits until the guard's
// tick has read the clock after it.
// The timers pending then are those pending before (the guard's next
// tick armed again), so the next call finds the tick armed.
func guardRead(t *testing.T, q *Manager, clk *clock.Fake, d time.Duration) {
	t.Helper()
	pending := clk.Pending()
	clk.Advance(d)
	want := clk.Boottime()
	waitFor(t, "the guard's tick read the clock", func() bool { return stallLast(q) >= want })
	waitFor(t, "the guard's next tick armed", func() bool { return clk.Pending() == pending })
}

// SR-6, SR-16 (stall41 item 1): a check of the stall guard whose
// reading of the clock is older than one already noted — a job at its
// start check, or the scheduler's loop, descheduled between its reading
// and its check under load — is no later moment the process ran: it must
// not take the guard's last reading back. It did, and the next tick then
// counted the jitter of that goroutine as time the process did not run:
// with the bound at 1 s (holders at shadow_heartbeat_timeout 1s), a
// reading a second stale and the tick 250 ms later made a "stall" of
// 1.25 s,
// and every new attempt waited for a round of questions to the holders
// (up to 2 s of give-back and 3 s of round) while the process had run
// throughout.
func TestStallStaleReadingIsNoStall(t *testing.T) {
	q, clk, _, _ := stallJitterManager(t, nil)
	waitFor(t, "the guard's tick and the loop's wake armed", func() bool { return clk.Pending() >= 2 })
	ctx := context.Background()

	stale := clk.Boottime() // a check's reading, its goroutine then descheduled
	guardRead(t, q, clk, 250*time.Millisecond)
	guardRead(t, q, clk, 250*time.Millisecond)
	guardRead(t, q, clk, 250*time.Millisecond)
	guardRead(t, q, clk, 250*time.Millisecond) // a second on, the ticks read on time
	if q.stallNoted(ctx, stale) {
		t.Fatal("a stale reading started a stall's round")
	}
	if got, want := stallLast(q), clk.Boottime(); got != want {
		t.Fatalf("the guard's last reading is %v after a stale check, want %v (the latest)", got, want)
	}
	guardRead(t, q, clk, 250*time.Millisecond) // the next tick, on time
	if q.stallBusy() {
		t.Fatal("a stall's round runs although the clock was read every 250 ms (bound 1 s): a stale reading counted as time the process did not run")
	}
}

// SR-6, OPS- (stall41 item 1): the WARN of a stall is paced as a
// recovered panic's line is (panicline.Gate): the first of an incident
// at once, the next at most once a minute with the count of stalls not
// logged in between ("suppressed") — not one line per stall.
func TestStallWarnPaced(t *testing.T) {
	buf := &logBuf{}
	log := slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	q, clk, began, release := stallJitterManager(t, log)
	waitFor(t, "the guard's tick armed", func() bool { return clk.Pending() >= 1 })
	const line = "this server did not run for longer than a shadow server may wait"
	stall := func() {
		t.Helper()
		clk.Advance(1500 * time.Millisecond)
		select {
		case <-began:
		case <-time.After(10 * time.Second):
			t.Fatal("no round after a 1.5 s stall")
		}
		release <- struct{}{}
		waitFor(t, "the round's end", func() bool { return !q.stallBusy() })
	}
	for range 5 {
		stall()
	}
	if n := strings.Count(buf.String(), line); n != 1 {
		t.Fatalf("%d WARN lines for 5 stalls within a minute, want 1:\n%s", n, buf.String())
	}
	clk.Advance(time.Minute) // itself a stall: the next line, with the four left out
	select {
	case <-began:
	case <-time.After(10 * time.Second):
		t.Fatal("no round after a one-minute stall")
	}
	release <- struct{}{}
	waitFor(t, "the round's end", func() bool { return !q.stallBusy() })
	out := buf.String()
	if n := strings.Count(out, line); n != 2 {
		t.Fatalf("%d WARN lines after a minute, want 2:\n%s", n, out)
	}
	if !strings.Contains(out, "suppressed=4") {
		t.Fatalf("the second line does not count the 4 stalls left out since the first:\n%s", out)
	}
}
