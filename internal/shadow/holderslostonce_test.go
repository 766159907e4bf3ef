package shadow

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// markOnceStore is a lostStore that marks each message once, as the queue
// does (a message marked already keeps its mark): HolderUnreachable
// returns only the copies on the holder not marked before — new copies
// put there since (count).
type markOnceStore struct {
	lostStore
	mu     sync.Mutex
	marked int
	count  int
}

func (s *markOnceStore) HolderUnreachable(server string, since time.Time) (int, error) {
	s.lostStore.HolderUnreachable(server, since)
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.count - s.marked
	s.marked = s.count
	return n, nil
}

// SR-6 (rr recopy39): a holder no probe reaches is taken as lost once:
// the WARN comes at the pass that crosses the takeover bound, not at
// every pass while it stays silent; copies found on it later (a copy
// made there before the mark was written) are told at INFO, the state
// unchanged. The pass that finds it answering ends the state, and a new
// silence WARNs again after the bound.
func TestSR6HolderTakenAsLostWarnsOncePerSilence(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	st := &markOnceStore{lostStore: lostStore{fakeHolderStore: fakeHolderStore{holders: map[string]int{"hub-b": 2}}, lost: map[string]time.Time{}}, count: 2}
	cp := &silentCopier{down: map[string]bool{"hub-b": true}}
	var logs bytes.Buffer
	h := NewHolders(HoldersConfig{Store: st, Copier: cp, Clock: clk, Interval: time.Second, Log: slog.New(slog.NewTextHandler(&logs, nil)),
		LostAfter: func() time.Duration { return 3 * time.Second }})
	ctx := context.Background()
	warns := func() int {
		return strings.Count(logs.String(), "level=WARN msg=\"shadow server not reachable for the takeover bound")
	}
	for range 10 {
		h.Pass(ctx)
		clk.Advance(time.Second)
	}
	if n := warns(); n != 1 {
		t.Fatalf("%d WARNs over ten passes of a silent holder, want 1:\n%s", n, logs.String())
	}
	st.mu.Lock()
	st.count = 3 // one more copy found on it
	st.mu.Unlock()
	h.Pass(ctx)
	clk.Advance(time.Second)
	if n := warns(); n != 1 {
		t.Errorf("a copy found later on the holder taken as lost WARNed again (%d):\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "level=INFO") || !strings.Contains(logs.String(), "messages=1") {
		t.Errorf("the copy found later is not told:\n%s", logs.String())
	}
	// It answers: the state ends; silent again, it WARNs once more.
	cp.mu.Lock()
	cp.down["hub-b"] = false
	cp.mu.Unlock()
	h.Pass(ctx)
	clk.Advance(time.Second)
	cp.mu.Lock()
	cp.down["hub-b"] = true
	cp.mu.Unlock()
	st.mu.Lock()
	st.marked = 0 // the answer gave the copies back
	st.mu.Unlock()
	for range 10 {
		h.Pass(ctx)
		clk.Advance(time.Second)
	}
	if n := warns(); n != 2 {
		t.Errorf("%d WARNs after a second silence, want 2:\n%s", n, logs.String())
	}
}

// SR-6 (rr rrmix39): the INFO for more copies on a holder taken as lost
// stands for a WARN given in the same silence. A silence whose first
// passes marked nothing (its copies marked already: by the run before a
// restart, or for another reason) gave no WARN, and the copies found on
// the holder later in it were told at INFO only: the operator was never
// warned that these messages are held by one server.
func TestSR6HolderTakenAsLostWarnsForTheFirstCopiesOfTheSilence(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	st := &markOnceStore{lostStore: lostStore{fakeHolderStore: fakeHolderStore{holders: map[string]int{"hub-b": 2}}, lost: map[string]time.Time{}}, count: 2, marked: 2}
	cp := &silentCopier{down: map[string]bool{"hub-b": true}}
	var logs bytes.Buffer
	h := NewHolders(HoldersConfig{Store: st, Copier: cp, Clock: clk, Interval: time.Second, Log: slog.New(slog.NewTextHandler(&logs, nil)),
		LostAfter: func() time.Duration { return 3 * time.Second }})
	ctx := context.Background()
	warns := func() int {
		return strings.Count(logs.String(), "level=WARN msg=\"shadow server not reachable for the takeover bound")
	}
	for range 6 {
		h.Pass(ctx)
		clk.Advance(time.Second)
	}
	if n := warns(); n != 0 {
		t.Fatalf("%d WARNs with nothing newly taken as lost, want 0:\n%s", n, logs.String())
	}
	st.mu.Lock()
	st.count = 3 // a copy found on it, the first taken as lost in this silence
	st.mu.Unlock()
	h.Pass(ctx)
	clk.Advance(time.Second)
	if n := warns(); n != 1 {
		t.Errorf("the first copy taken as lost in this silence gave %d WARNs, want 1:\n%s", n, logs.String())
	}
}
