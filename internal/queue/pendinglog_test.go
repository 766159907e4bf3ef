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
)

// OPS-, rt44 shadow4 F2: on a full disk the failed commit of delivery
// results logged one ERROR per message (20 lines in 4 s for 20
// taken-over messages, growing with the backlog), while README "A full
// disk" promises one warning per 5 s. The first failure of an episode
// is one ERROR line; the others are paced as every line a full disk
// repeats (panicline.Gate: at most once a minute, with the count left
// out), the round's WARN saying how many wait; after a quiet period
// (panicline.Interval with no line) the episode ends, and the next
// failure is logged at once again.
func TestOPSPendingResultsErrorOncePerEpisode(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	hop := startCountingHop(t)
	var mu sync.Mutex
	seen := map[ID]bool{}
	var full atomic.Bool
	full.Store(true)
	var failed atomic.Int32
	// A commit that removes one of the messages (its results: every
	// recipient relayed) fails with ENOSPC while the disk is full.
	s.setCommitFault(func(tx *Tx) error {
		mu.Lock()
		defer mu.Unlock()
		for id := range seen {
			_, err := tx.Get(id)
			if errors.Is(err, ErrNotFound) && full.Load() {
				failed.Add(1)
				return fmt.Errorf("write %s: %w", s.db.Path(), syscall.ENOSPC)
			}
		}
		return nil
	})
	buf := &logBuf{}
	log := slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	q := NewManager(s, relayTo(hop), ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Hour}, Log: log})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	submit := func(n int) {
		t.Helper()
		for range n {
			m := msg(s, "a@example.org", "x@example.test")
			mu.Lock()
			seen[m.ID] = true
			mu.Unlock()
			if err := q.Submit(ctx, m, []byte(body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	const first = "committing delivery results failed; the results are kept"
	errLines := func() int { return strings.Count(buf.String(), first) }
	submit(12)
	waitFor(t, "every message's results pending", func() bool { return q.PendingResults() == 12 })
	if n := errLines(); n != 1 {
		t.Fatalf("%d ERROR lines for the 12 messages whose results' commit failed, want 1:\n%s", n, buf.String())
	}
	// Rounds of the retry: one WARN each, no further ERROR.
	for i := range 3 {
		want := failed.Load() + 1
		clk.Advance(strandedRetry)
		q.Kick()
		waitFor(t, fmt.Sprintf("round %d of the results' commit", i), func() bool { return failed.Load() >= want })
	}
	waitFor(t, "a round's warning", func() bool {
		return strings.Contains(buf.String(), "delivery results still not committed") && strings.Contains(buf.String(), "messages=12")
	})
	if n := errLines(); n != 1 {
		t.Fatalf("%d ERROR lines after the retry rounds, want 1:\n%s", n, buf.String())
	}
	// Room again: every result is committed, the episode ends.
	full.Store(false)
	deadline := time.Now().Add(10 * time.Second)
	for q.PendingResults() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d results still pending with room again", q.PendingResults())
		}
		clk.Advance(strandedRetry)
		q.Kick()
		time.Sleep(20 * time.Millisecond)
	}
	// A full disk again after a quiet minute: a new episode, its first
	// failure logged at once (seconds later it is the same episode, a
	// flapping disk: TestOPSFlappingDiskPendingResultsErrorPacedAcrossRounds).
	clk.Advance(panicline.Interval)
	mu.Lock()
	clear(seen) // gone for good: their removal is no results' commit any more
	mu.Unlock()
	full.Store(true)
	submit(1)
	waitFor(t, "the new message's results pending", func() bool { return q.PendingResults() == 1 })
	// Its line is written after the entry is visible (pendResults).
	waitFor(t, "the second episode's ERROR line", func() bool { return errLines() >= 2 })
	if n := errLines(); n != 2 {
		t.Fatalf("%d ERROR lines after a second episode began, want 2:\n%s", n, buf.String())
	}
	full.Store(false)
	for q.PendingResults() > 0 && time.Now().Before(deadline.Add(10*time.Second)) {
		clk.Advance(strandedRetry)
		q.Kick()
		time.Sleep(20 * time.Millisecond)
	}
}
