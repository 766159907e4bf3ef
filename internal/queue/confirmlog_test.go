package queue

import (
	"fmt"
	"log/slog"
	"strings"
	"syscall"
	"testing"
	"time"

	"umbra/internal/clock"
)

// OPS-2 (the class of rt44 shadow4 F2): a full disk fails the note of
// every confirmed copy on receipt; its ERROR is the first of an episode
// at once and the next at most once a minute, naming how many were left
// out — not one line per message.
func TestOPSConfirmedCopyNoteErrorPaced(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	buf := &logBuf{}
	q := NewManager(s, nil, ManagerConfig{Clock: clk, Log: slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	const line = "recording a confirmed shadow copy failed"
	full := fmt.Errorf("write queue.db: %w", syscall.ENOSPC)
	for i := range 20 {
		q.confirmFailed(ID(i+1), full)
	}
	if n := strings.Count(buf.String(), line); n != 1 {
		t.Fatalf("%d ERROR lines for 20 failed notes in one instant, want 1:\n%s", n, buf)
	}
	clk.Advance(61 * time.Second)
	q.confirmFailed(ID(21), full)
	if l := buf.String(); strings.Count(l, line) != 2 || !strings.Contains(l, "suppressed=19") {
		t.Fatalf("a minute later, want a second line naming the 19 left out:\n%s", l)
	}
}
