package shadow

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// heardStore is a lostStore that knows when each holder last completed a
// session here (HeardStore).
type heardStore struct {
	lostStore
	hmu   sync.Mutex
	heard map[string]time.Time
}

func (s *heardStore) HolderHeard(server string) time.Time {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	return s.heard[server]
}

func (s *heardStore) hear(server string, at time.Time) {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	s.heard[server] = at
}

// unprobeable is a Copier without a topology: no holder can be probed.
type unprobeable struct{}

func (unprobeable) Probe(_ context.Context, server string) (string, error) {
	return "", fmt.Errorf("%s: %w (no topology)", server, ErrNotProbeable)
}

func (unprobeable) Recopy(context.Context, uint64) (string, error) {
	return "", fmt.Errorf("no shadow server took the copy: no topology")
}

// SR-6 (rr notopo38): without a topology no probe reaches a holder, but
// the holder opens sessions here (its heartbeats and discard queries for
// the copies it keeps). A holder heard from within the takeover bound
// holds its copies: they are never taken as lost for failed probes. Once
// it falls silent for the bound, they are — since its last session, a
// pass after the first pass that found it so.
func TestSR6HolderHeardFromIsNotTakenAsLost(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	st := &heardStore{lostStore: lostStore{fakeHolderStore: fakeHolderStore{holders: map[string]int{"h1": 2}}, lost: map[string]time.Time{}}, heard: map[string]time.Time{}}
	h := NewHolders(HoldersConfig{Store: st, Copier: unprobeable{}, Clock: clk, Interval: time.Second,
		LostAfter: func() time.Duration { return 3 * time.Second }})
	ctx := context.Background()
	for range 10 {
		st.hear("h1", clk.Now()) // its heartbeat, each second
		clk.Advance(time.Second)
		h.Pass(ctx)
		if len(st.lost) != 0 {
			t.Fatalf("h1's copies taken as lost while it heartbeats here: %v", st.lost)
		}
	}
	last := st.HolderHeard("h1")
	for range 2 { // the second finds it silent for the bound
		clk.Advance(time.Second)
		h.Pass(ctx)
	}
	if len(st.lost) != 0 {
		t.Fatalf("lost %v at the first pass that found h1 silent for the bound; want it only noted", st.lost)
	}
	clk.Advance(time.Second)
	h.Pass(ctx)
	if since, ok := st.lost["h1"]; !ok || !since.Equal(last) {
		t.Fatalf("lost %v after h1 fell silent; want h1 since its last session %s", st.lost, last)
	}
	// It heartbeats again: its copies are given back.
	st.answered = nil
	st.hear("h1", clk.Now())
	clk.Advance(time.Second)
	h.Pass(ctx)
	if len(st.answered) != 1 || len(st.lost) != 0 {
		t.Fatalf("answered %v, lost %v; want h1 told back", st.answered, st.lost)
	}
}

// SR-6 (rr notopo38): a stall of this server longer than the bound (it
// heard nothing while it did not run) takes no copy of a holder that
// heartbeats it as lost: the first pass after the stall finds the
// holder's last session older than the bound and only notes it; the
// holder's next heartbeat comes before the next pass.
func TestSR6StallIsNoSilenceOfAHeardHolder(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	st := &heardStore{lostStore: lostStore{fakeHolderStore: fakeHolderStore{holders: map[string]int{"h1": 1}}, lost: map[string]time.Time{}}, heard: map[string]time.Time{}}
	h := NewHolders(HoldersConfig{Store: st, Copier: unprobeable{}, Clock: clk, Interval: time.Second,
		LostAfter: func() time.Duration { return 3 * time.Second }})
	ctx := context.Background()
	st.hear("h1", clk.Now())
	clk.Advance(time.Second)
	h.Pass(ctx)
	clk.Advance(5 * time.Second) // this server did not run
	h.Pass(ctx)
	st.hear("h1", clk.Now())
	clk.Advance(time.Second)
	h.Pass(ctx)
	if len(st.lost) != 0 {
		t.Fatalf("h1's copies taken as lost for this server's own stall: %v", st.lost)
	}
}

// SR-6 (rr notopo38): a holder that cannot be probed (no topology names
// it) is not "not reachable since the start": its failed probe says
// nothing of whether it is up. The start's ask says, at INFO, that such
// holders cannot be asked what they finished.
func TestSR6UnprobeableHolderIsNotUnreached(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	var logs strings.Builder
	st := &heardStore{lostStore: lostStore{fakeHolderStore: fakeHolderStore{holders: map[string]int{"h1": 2}}, lost: map[string]time.Time{}}, heard: map[string]time.Time{}}
	h := NewHolders(HoldersConfig{Store: st, Copier: unprobeable{}, Clock: clk, Interval: time.Second, Log: slog.New(slog.NewTextHandler(&logs, nil)),
		LostAfter: func() time.Duration { return 3 * time.Second }})
	h.AskFirst(context.Background())
	h.Pass(context.Background())
	if u := h.Unreached(); len(u) != 0 {
		t.Fatalf("unreached %v; want none: h1 cannot be probed, which says nothing of it", u)
	}
	out := logs.String()
	if strings.Contains(out, "not reachable since the start") {
		t.Fatalf("the start says h1 is not reachable:\n%s", out)
	}
	if !strings.Contains(out, "cannot be asked what they finished") || !strings.Contains(out, "shadow_servers=h1") {
		t.Fatalf("the start does not say h1 cannot be asked:\n%s", out)
	}
}

// unanswering is a Copier with a topology that names every holder, whose
// probes all fail: the holder is not reached, or reached and fails the
// questions (a 4xx to XSHADOW), while it may still open sessions here.
type unanswering struct{}

func (unanswering) Probe(_ context.Context, server string) (string, error) {
	return "", fmt.Errorf("%s: 421 shadow store unavailable", server)
}

func (unanswering) Recopy(context.Context, uint64) (string, error) {
	return "", fmt.Errorf("no shadow server took the copy")
}

// SR-6 (rr rrnotopo38): WITH a topology a holder's copies are known held
// only by a probe — XSHADOW reads its database id (a wiped holder answers
// a new one), XQUERYKEPT and XQUERYDROPPED what it still holds. Its own
// sessions here (heartbeats, discard queries) carry none of that: a holder
// wiped, restored or rolled back keeps heartbeating. A holder every probe
// of which fails for the takeover bound has its copies taken as lost and
// made again elsewhere, however often it opens sessions here; "heard"
// answers only for a holder no probe can be made to (ErrNotProbeable).
func TestSR6HeardHolderWithTopologyIsStillTakenAsLost(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	st := &heardStore{lostStore: lostStore{fakeHolderStore: fakeHolderStore{holders: map[string]int{"h1": 2}}, lost: map[string]time.Time{}}, heard: map[string]time.Time{}}
	h := NewHolders(HoldersConfig{Store: st, Copier: unanswering{}, Clock: clk, Interval: time.Second,
		LostAfter: func() time.Duration { return 3 * time.Second }})
	ctx := context.Background()
	for range 6 {
		st.hear("h1", clk.Now()) // its heartbeat, each second
		clk.Advance(time.Second)
		h.Pass(ctx)
	}
	if since, ok := st.lost["h1"]; !ok || !since.Equal(t0.Add(time.Second)) {
		t.Fatalf("lost %v: h1 failed every probe for the bound while heartbeating; want its copies taken as lost since its first failed probe %s", st.lost, t0.Add(time.Second))
	}
	// Its heartbeats give nothing back: only a probe that answers does.
	st.answered = nil
	st.hear("h1", clk.Now())
	clk.Advance(time.Second)
	h.Pass(ctx)
	if len(st.answered) != 0 {
		t.Fatalf("answered %v: a heartbeat gave back copies no probe confirmed", st.answered)
	}
}
