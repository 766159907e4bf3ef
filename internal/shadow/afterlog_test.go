package shadow

import (
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// After a takeover the heartbeats to the primary go on (its return is
// how the copies are reconciled), and each failure is logged as what it
// is — the primary still unreachable, its copies taken over — at INFO,
// not as a WARN "heartbeat failed failures=4 of=3" that reads like a
// counter past its limit (rt16e F4; SR-6).
func TestFailuresAfterTakeoverLoggedAsSuch(t *testing.T) {
	m, st, hb, clk := setup()
	st.asStored = true
	var logs strings.Builder
	var logMu sync.Mutex
	m.cfg.Log = slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		logMu.Lock()
		defer logMu.Unlock()
		return logs.Write(p)
	}), nil))
	hb.set(func(h *fakeHB) { h.err = errors.New("connection refused") })
	step(t, m, hb, clk, 1500*time.Second) // 5 heartbeats: 2 failed, the takeover, 2 after it
	if tk := st.taken(); len(tk) != 1 {
		t.Fatalf("takeovers %v, want 1", tk)
	}
	logMu.Lock()
	out := logs.String()
	logMu.Unlock()
	before, after, found := strings.Cut(out, `msg="took over shadow copies"`)
	if !found || strings.Count(before, `level=WARN msg="heartbeat failed"`) != 2 {
		t.Fatalf("want two failed heartbeats, then the takeover:\n%s", out)
	}
	if strings.Contains(after, `msg="heartbeat failed"`) {
		t.Errorf("a failure after the takeover is logged as a failed heartbeat counting towards one:\n%s", after)
	}
	if n := strings.Count(after, `level=INFO msg="primary still unreachable; its copies are taken over"`); n < 2 {
		t.Errorf("%d failures after the takeover logged as such, want at least 2:\n%s", n, after)
	}
}
