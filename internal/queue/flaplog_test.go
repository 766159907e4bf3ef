package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/panicline"
	"umbra/internal/queue/queuetest"
)

// OPS-, Q-5 (poison45 item 2): a flapping disk — the commit of an
// attempt's results fails, the next retry round (strandedRetry, 5 s)
// commits it, the next message's commit fails again, and so on — logged
// one ERROR per round: the pacing (panicline.Gate) ended its episode as
// soon as nothing was pending, so every failure after a round that
// went through began a new episode, logged at once. An episode now ends
// only after a quiet period (panicline.Interval with no line): the
// flapping disk gets its first ERROR at once, the next failures are
// counted (suppressed=N), and each commit that goes through keeps its
// recovery line (INFO "delivery results committed after their commit
// had failed"); a failure a quiet minute later is logged at once.
func TestOPSFlappingDiskPendingResultsErrorPacedAcrossRounds(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	hop := startCountingHop(t)
	var mu sync.Mutex
	seen := map[ID]bool{}
	var full atomic.Bool
	// The results' commit (the record removed: every recipient
	// relayed) fails with EIO while the disk is failing.
	s.setCommitFault(func(tx *Tx) error {
		mu.Lock()
		defer mu.Unlock()
		for id := range seen {
			if _, err := tx.Get(id); errors.Is(err, ErrNotFound) && full.Load() {
				return fmt.Errorf("write %s: %w", s.db.Path(), syscall.EIO)
			}
		}
		return nil
	})
	buf := &logBuf{}
	log := slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	q := NewManager(s, relayTo(hop), ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Hour}, Log: log})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	const first = "committing delivery results failed; the results are kept"
	const recovered = "delivery results committed after their commit had failed"
	errLines := func() int { return strings.Count(buf.String(), first) }
	// One failing round, then one that goes through.
	flap := func(round int) {
		t.Helper()
		mu.Lock()
		clear(seen)
		mu.Unlock()
		full.Store(true)
		m := msg(s, "a@example.org", "x@example.test")
		mu.Lock()
		seen[m.ID] = true
		mu.Unlock()
		if err := q.Submit(ctx, m, []byte(body)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, fmt.Sprintf("round %d: the results pending", round), func() bool { return q.PendingResults() == 1 })
		full.Store(false)
		clk.Advance(strandedRetry)
		q.Kick()
		waitFor(t, fmt.Sprintf("round %d: the results committed", round), func() bool { return q.PendingResults() == 0 })
	}
	for round := range 4 {
		flap(round)
	}
	waitFor(t, "the first failure's ERROR line", func() bool { return errLines() >= 1 })
	if n := errLines(); n != 1 {
		t.Fatalf("%d ERROR lines for a disk failing every other round of 5 s (4 failures in 35 s), want 1:\n%s", n, buf.String())
	}
	if n := strings.Count(buf.String(), recovered); n != 4 {
		t.Fatalf("%d recovery lines for 4 results committed after a failure, want 4:\n%s", n, buf.String())
	}
	// A quiet period with no failure: the next failure begins a new
	// episode, logged at once, counting the failures left out before.
	clk.Advance(panicline.Interval)
	flap(4)
	// The line is written after the entry is visible (pendResults).
	waitFor(t, "the new episode's ERROR line", func() bool { return errLines() >= 2 })
	if n := errLines(); n != 2 {
		t.Fatalf("%d ERROR lines after a quiet minute and a new failure, want 2:\n%s", n, buf.String())
	}
	if !strings.Contains(buf.String(), "suppressed=3") {
		t.Fatalf("the new episode's line does not count the 3 failures left out:\n%s", buf.String())
	}
}

// The sibling on the ending commit of an attempt (stranded.go): a
// requeue that fails, a round that takes the message back, a requeue
// that fails again 5 s later, logged one ERROR each.
func TestOPSFlappingDiskStrandedErrorPacedAcrossRounds(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s := openTest(t)
	buf := &logBuf{}
	log := slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }),
		ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Hour}, MessageExpiration: 48 * time.Hour, Log: log})
	inDelivery := func() *Message {
		t.Helper()
		m := msg(s, "s@example.org", "r@x.example")
		m.Arrived = clk.Now()
		if err := q.Submit(ctx, m, []byte(body)); err != nil {
			t.Fatal(err)
		}
		setState(t, s, m.ID, Active)
		got, err := q.Message(m.ID)
		if err != nil {
			t.Fatal(err)
		}
		got.State = Active
		return got
	}
	lines := func() int { return strings.Count(buf.String(), "requeue failed") }
	for round := range 4 {
		m := inDelivery()
		restore := queuetest.BreakWrites(t, s.db.Path())
		q.requeue(m)
		restore()
		clk.Advance(strandedRetry)
		q.retryStranded()
		if n := strandedCount(q); n != 0 {
			t.Fatalf("round %d: %d messages still stranded with room again", round, n)
		}
	}
	if n := lines(); n != 1 {
		t.Fatalf("%d ERROR lines for a disk failing every other round of 5 s, want 1:\n%s", n, buf.String())
	}
	clk.Advance(panicline.Interval)
	m := inDelivery()
	restore := queuetest.BreakWrites(t, s.db.Path())
	q.requeue(m)
	restore()
	if n := lines(); n != 2 {
		t.Fatalf("%d ERROR lines after a quiet minute and a new failure, want 2:\n%s", n, buf.String())
	}
}
