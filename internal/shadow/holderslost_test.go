package shadow

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

type lostStore struct {
	fakeHolderStore
	mu       sync.Mutex
	lost     map[string]time.Time
	answered []string
}

func (s *lostStore) HolderUnreachable(server string, since time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lost[server] = since
	return s.holders[server], nil
}

func (s *lostStore) HolderAnswered(server string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answered = append(s.answered, server)
	delete(s.lost, server)
	return 0, nil
}

type silentCopier struct {
	mu   sync.Mutex
	down map[string]bool
}

func (c *silentCopier) Probe(_ context.Context, server string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down[server] {
		return "", errors.New("connection refused")
	}
	return "db-" + server, nil
}

func (c *silentCopier) Recopy(context.Context, uint64) (string, error) { return "", nil }

// SR-6 from the primary's side: a holder no probe reaches for the
// takeover bound (heartbeat timeout × retry count) has its copies taken
// as lost — not before, and not a holder that answers; one that answers
// again is told to the store, which gives its copies back.
func TestSR6HolderSilentForTheTakeoverBoundLosesItsCopies(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	st := &lostStore{fakeHolderStore: fakeHolderStore{holders: map[string]int{"hub-b": 2, "hub-c": 1}}, lost: map[string]time.Time{}}
	cp := &silentCopier{down: map[string]bool{}}
	h := NewHolders(HoldersConfig{Store: st, Copier: cp, Clock: clk, Interval: 3 * time.Second,
		LostAfter: func() time.Duration { return 12 * time.Second }})
	ctx := context.Background()
	h.Pass(ctx)
	cp.down["hub-b"] = true
	clk.Advance(3 * time.Second)
	h.Pass(ctx) // the first failed probe: hub-b silent since now
	first := clk.Now()
	for range 3 {
		clk.Advance(3 * time.Second)
		h.Pass(ctx)
		if len(st.lost) != 0 {
			t.Fatalf("copies taken as lost at %s, before the bound: %v", clk.Now().Sub(first), st.lost)
		}
	}
	clk.Advance(3 * time.Second)
	h.Pass(ctx)
	if since, ok := st.lost["hub-b"]; !ok || !since.Equal(first) || len(st.lost) != 1 {
		t.Fatalf("lost %v after the bound; want hub-b since %s only", st.lost, first)
	}
	st.answered = nil
	cp.down["hub-b"] = false
	clk.Advance(3 * time.Second)
	h.Pass(ctx)
	if len(st.answered) != 1 || st.answered[0] != "hub-b" || len(st.lost) != 0 {
		t.Fatalf("answered %v, lost %v; want hub-b told back", st.answered, st.lost)
	}
	clk.Advance(3 * time.Second)
	h.Pass(ctx)
	if len(st.answered) != 1 {
		t.Fatalf("a holder answering at every pass is told back every time: %v", st.answered)
	}
}
