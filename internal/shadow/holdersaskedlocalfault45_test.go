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

// SR-6, rt30a F2 (rt45 redirect, the local-failure rule): a holder the
// start (or the ask after a stall) could not probe because of a fault
// of this server's own (LocalFault: a source address it cannot bind, a
// panic here) was not asked what it finished of the copies it may have
// taken over while this server was away: delivered here too, those
// arrive twice. Whose fault it was changes nothing of that: Unreached
// names it (shadow single, message show: UnreachedNote) until a probe
// reaches it, and the start says so — at ERROR, as this server's fault
// with what to fix, not as a holder "not reachable". The merged change
// had such a holder left out of Unreached and of every line: the risk
// of duplicates went unsaid.
func TestSR6HolderProbeLocalFaultAtTheStartIsNotAskedAndSaysWhy(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	st := &fakeHolderStore{holders: map[string]int{"hub-b": 2, "hub-c": 1}}
	cp := &fakeCopier{store: st, fail: map[string]error{"hub-b": sourceFaultErr{}, "hub-c": errors.New("connection refused")}}
	buf := &syncBuf{}
	h := NewHolders(HoldersConfig{Store: st, Copier: cp, Clock: clk, Interval: 3 * time.Second,
		Log: slog.New(slog.NewTextHandler(buf, nil))})
	h.AskFirst(context.Background())
	un := h.Unreached()
	if _, ok := un["hub-b"]; !ok {
		t.Errorf("hub-b, never asked since the start (a fault here), not named unreached: %v", un)
	}
	if _, ok := un["hub-c"]; !ok {
		t.Errorf("hub-c, which did not answer, not named unreached: the test proves nothing")
	}
	buf.mu.Lock()
	log := buf.b.String()
	buf.mu.Unlock()
	var local, down string
	for _, line := range strings.Split(log, "\n") {
		switch {
		case strings.Contains(line, "not reachable since the start"):
			down = line
		case strings.Contains(line, "fault of this server's"):
			local = line
		}
	}
	if strings.Contains(down, "hub-b") || !strings.Contains(down, "hub-c") {
		t.Errorf("the not-reachable line names hub-b, or not hub-c: %q", down)
	}
	if !strings.Contains(local, "level=ERROR") || !strings.Contains(local, "hub-b") || !strings.Contains(local, "arrive twice") ||
		!strings.Contains(local, "set server.source_address to one of its addresses") {
		t.Errorf("no ERROR naming hub-b, the risk and what to fix, for its probe that failed here: %q\n%s", local, log)
	}
	// A probe that reaches it later takes it out, as for any holder.
	delete(cp.fail, "hub-b")
	clk.Advance(3 * time.Second)
	h.Pass(context.Background())
	if _, ok := h.Unreached()["hub-b"]; ok {
		t.Errorf("hub-b still named unreached after a probe reached it")
	}
}
