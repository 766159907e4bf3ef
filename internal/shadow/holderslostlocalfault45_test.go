package shadow

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-6 (rt45 redirect, the local-failure rule; README "such a failed …
// probe of a holder marks that server neither … nor unreached"): probes
// of a holder that fail here before any connection (LocalFault: a
// source address this server cannot bind), far past the takeover
// bound, say nothing of whether the holder is up: its copies are not
// taken as lost — no "shadow server not reachable for the takeover
// bound" blaming a holder that runs, no mark of held by this server
// only on every message it holds a copy of. A holder whose probes find
// no answer for the bound still loses them.
func TestSR6HolderProbeLocalFaultTakesNoCopyAsLost(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	st := &lostStore{fakeHolderStore: fakeHolderStore{holders: map[string]int{"hub-b": 2, "hub-c": 1}}, lost: map[string]time.Time{}}
	cp := &fakeCopier{store: &st.fakeHolderStore, fail: map[string]error{"hub-b": sourceFaultErr{}, "hub-c": errors.New("connection refused")}}
	buf := &syncBuf{}
	h := NewHolders(HoldersConfig{Store: st, Copier: cp, Clock: clk, Interval: 3 * time.Second,
		LostAfter: func() time.Duration { return 12 * time.Second },
		Log:       slog.New(slog.NewTextHandler(buf, nil))})
	ctx := context.Background()
	for range 10 { // 30 s: more than twice the bound
		h.Pass(ctx)
		clk.Advance(3 * time.Second)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if _, ok := st.lost["hub-b"]; ok {
		t.Errorf("hub-b's copies taken as lost for probes that failed here before any connection")
	}
	if _, ok := st.lost["hub-c"]; !ok {
		t.Errorf("hub-c, which did not answer for the bound, kept its copies: the test proves nothing")
	}
	buf.mu.Lock()
	log := buf.b.String()
	buf.mu.Unlock()
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "not reachable") && strings.Contains(line, "hub-b") {
			t.Errorf("hub-b told not reachable for a fault of this server's: %s", line)
		}
	}
}
