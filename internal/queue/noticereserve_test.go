package queue

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// Q-3, Q-5 (the space reserve, rt42 F2): a delay notice committed while
// a job of the attempt still runs (noticecommit.go) writes a new DSN —
// it neither frees room nor keeps the results of mail handed on. On a
// full disk its commit failing must leave the space reserve whole for
// the commits it is kept for (an attempt's results, a takeover), not
// give it up for the notice (the attempt's end makes the notice then).
func TestQ5DelayNoticeDoesNotSpendSpaceReserve(t *testing.T) {
	dir := smallDisk(t, "4m")
	logs := &syncBuffer{}
	s, err := Open(filepath.Join(dir, "queue.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	s.StartSpaceReserve(256<<10, nil)
	if held, _ := s.SpaceReserveHeld(); !held {
		t.Fatal("no space reserve made on the tmpfs")
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	h := &hangsFrom{gate: make(chan struct{})}
	q := NewManager(s, h, ManagerConfig{Hostname: "mx.test", Clock: clk, RetrySchedule: []time.Duration{4 * time.Second},
		MessageExpiration: time.Hour, DelayNotification: 5 * time.Second, Log: slog.New(slog.NewTextHandler(logs, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		h.open()
		cancel()
		q.Wait()
	})
	q.Start(ctx)
	m := msg(s, "sender@example.org", "w@slow.test")
	m.Arrived = t0
	// Headers the delay notice returns: its DSN takes new pages, which
	// the full disk has no room for.
	big := strings.Repeat("X-Pad: a header line the delay notice returns with the others\r\n", 3000) + body
	if err := q.Submit(ctx, m, []byte(big)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first deferral", func() bool {
		got, _ := q.Message(m.ID)
		return got != nil && got.State == Ready && got.Attempts == 1
	})
	h.mu.Lock()
	h.hang = true
	h.mu.Unlock()
	clk.Advance(4 * time.Second) // the retry at 4 s hangs
	waitFor(t, "the retry", func() bool { h.mu.Lock(); defer h.mu.Unlock(); return h.calls == 2 })
	free := fillDisk(t, dir)
	defer free()
	clk.Advance(5 * time.Minute) // the notice fell due at 5 s; the session hangs on
	waitFor(t, "the delay notice's commit", func() bool {
		return strings.Contains(logs.String(), "committing the delay notice") || s.SpaceReserveUsed() > 0
	})
	if n := s.SpaceReserveUsed(); n != 0 {
		t.Fatalf("the delay notice's commit gave up the space reserve (%d times): the results' commit after it has none", n)
	}
	if held, _ := s.SpaceReserveHeld(); !held {
		t.Fatal("the space reserve is gone after the delay notice's commit failed")
	}
}
