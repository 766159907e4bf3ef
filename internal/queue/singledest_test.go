package queue

import (
	"context"
	"sync"
	"testing"
	"time"
)

// peakGate plans as planned does and holds every delivery after the first
// until two run at once (then all go), counting the most that ran
// together.
type peakGate struct {
	*planned
	mu            sync.Mutex
	first         bool
	running, peak int
	both          chan struct{}
}

func (g *peakGate) Deliver(ctx context.Context, m *Message, body []byte, rcpts []int) []Result {
	g.mu.Lock()
	first := !g.first
	g.first = true
	g.running++
	g.peak = max(g.peak, g.running)
	if g.running == 2 {
		select {
		case <-g.both:
		default:
			close(g.both)
		}
	}
	g.mu.Unlock()
	defer func() { g.mu.Lock(); g.running--; g.mu.Unlock() }()
	if !first {
		select {
		case <-g.both:
		case <-ctx.Done():
		}
	}
	out := make([]Result, len(rcpts))
	for k, i := range rcpts {
		out[k] = Result{Rcpt: i, Outcome: RelayedOK, Reply: "250 ok", Queue: "mx:" + domainOf(m.Rcpts[i].Addr)}
	}
	return out
}

// SPEC Q-6: the active set's reserve (destHoldLimit) keeps a slot from
// a destination that has not shown it finishes its jobs (a next hop
// hung at its greeting: TestHungDestinationLeavesAnActiveSlot) and
// from one whose mail would keep another destination's out; it does
// not halve the throughput of the only destination with mail. With
// max_active 2, a destination that delivered a message runs two jobs
// at once when nothing else waits: the deliverer here lets none of the
// later ones end until two run together.
func TestOnlyDestinationUsesTheWholeActiveSet(t *testing.T) {
	s := openTest(t)
	g := &peakGate{planned: newPlanned(), both: make(chan struct{})}
	q := NewManager(s, g, ManagerConfig{MaxActive: 2})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	if err := q.Submit(ctx, msg(s, "a@example.org", "x@one.test"), []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first message delivered", func() bool { return len(messages(t, s)) == 0 })
	for range 4 {
		if err := q.Submit(ctx, msg(s, "a@example.org", "x@one.test"), []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "two jobs of the only destination running at once", func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.peak >= 2
	})
	waitFor(t, "every message delivered", func() bool { return len(messages(t, s)) == 0 })
}

// SPEC Q-6: when the reserve applies to a destination at its limit in a
// crowded active set (reserveNeeded), the other side of
// TestOnlyDestinationUsesTheWholeActiveSet: while another destination
// has mail waiting for its window or held back, and while the
// destination has not shown it ends its jobs (none succeeded, one
// failed since, one running overdue).
func TestReserveAppliesWhileAnotherWaitsOrTheDestinationMayHang(t *testing.T) {
	now := time.Date(2026, 12, 4, 20, 0, 0, 0, time.UTC)
	prompt := func() *dest {
		return &dest{key: "mx/a.test", prompt: true, avg: 100 * time.Millisecond, starts: []time.Time{now.Add(-50 * time.Millisecond)}}
	}
	for _, c := range []struct {
		name  string
		d     func() *dest
		other *dest
		want  bool
	}{
		{"the only destination, prompt", prompt, nil, false},
		{"another idle destination", prompt, &dest{key: "mx/b.test"}, false},
		{"another destination's job waits for its window", prompt, &dest{key: "mx/b.test", waiting: []*job{{}}}, true},
		{"another destination's mail held back", prompt, &dest{key: "mx/b.test", held: map[ID]time.Time{1: now.Add(time.Minute)}}, true},
		{"no job of it ended in a success yet", func() *dest { d := prompt(); d.prompt = false; return d }, nil, true},
		{"a failure since", func() *dest { d := prompt(); d.streak = 1; return d }, nil, true},
		{"dead", func() *dest { d := prompt(); d.deadUntil = now.Add(time.Minute); return d }, nil, true},
		{"a running job overdue", func() *dest { d := prompt(); d.starts = append(d.starts, now.Add(-2*time.Second)); return d }, nil, true},
		{"one running job started since its last proof", func() *dest { d := prompt(); d.unproven = 1; return d }, nil, false},
		{"two running jobs started since its last proof", func() *dest { d := prompt(); d.unproven = 2; return d }, nil, true},
	} {
		d := c.d()
		s := &scheduler{dests: map[string]*dest{d.key: d}}
		if c.other != nil {
			s.dests[c.other.key] = c.other
		}
		if got := s.reserveNeeded(d, now); got != c.want {
			t.Errorf("%s: reserve applies %v, want %v", c.name, got, c.want)
		}
	}
}
