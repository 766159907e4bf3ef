package queue

import (
	"context"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// Q-3, Q-4 (sched24): a message whose every pending recipient waits in
// a suspended queue still gets its delay notice and its expiry when they
// fall due, not at the hold's hourly recheck nor at the resume. Two
// paths park such a message: an attempt whose delivery held every
// recipient (finish), and a claim that finds every pending recipient's
// queue suspended already (holdSettled). delay_notification 20s,
// message_expiration 60s: both messages get their delay DSN at 20 s and
// fail at 60 s with the failure DSN, and the suspended destination is
// never contacted.
func TestHeldMessageGetsDelayNoticeAndExpiryOnTime(t *testing.T) {
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	p := newPlanned()
	q := NewManager(s, p, ManagerConfig{Hostname: "mx.test", Clock: clk,
		RetrySchedule: []time.Duration{10 * time.Second}, MessageExpiration: 60 * time.Second,
		DelayNotification: 20 * time.Second})
	p.suspended = q.IsSuspended
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { close(p.stop); cancel(); q.Wait() }()
	if err := q.SuspendQueue(ctx, "mx:down.test"); err != nil {
		t.Fatal(err)
	}
	// Known held already: its recipient waits in the suspended queue
	// after a refused attempt, due again at 5 s.
	known := msg(s, "a@example.org", "y@down.test")
	known.State, known.Arrived, known.NextAttempt, known.Attempts = Ready, t0, t0.Add(5*time.Second), 1
	known.Rcpts[0].Queue, known.Rcpts[0].LastReply = "mx:down.test", "451 4.4.1 connect to mx.down.test: connection refused"
	if err := s.Update(ctx, func(tx *Tx) error { return tx.PutNew(known, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	q.Start(ctx)
	// Held by its first attempt's delivery.
	fresh := msg(s, "a@example.org", "x@down.test")
	fresh.Arrived = t0
	if err := q.Submit(ctx, fresh, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first attempt held", func() bool {
		m, _ := q.Message(fresh.ID)
		return m != nil && m.State == Ready && m.Rcpts[0].Queue == "mx:down.test"
	})
	clk.Advance(5 * time.Second)
	waitFor(t, "the known message held at its claim", func() bool {
		m, _ := q.Message(known.ID)
		return m != nil && m.State == Ready && m.NextAttempt.After(t0.Add(5*time.Second))
	})
	for _, id := range []ID{known.ID, fresh.ID} {
		if m, _ := q.Message(id); m.NextAttempt.After(t0.Add(20 * time.Second)) {
			t.Errorf("%s parked until %v after arrival, past its delay notice at 20s", id, m.NextAttempt.Sub(t0))
		}
	}
	dsns := func() int { return p.count(p.done, "example.org") }

	clk.Advance(15 * time.Second) // t0 + 20s: the delay notice
	waitFor(t, "two delay DSNs at 20s", func() bool { return dsns() >= 2 })
	waitFor(t, "both marked delay-notified", func() bool {
		for _, id := range []ID{known.ID, fresh.ID} {
			if m, _ := q.Message(id); m == nil || !m.DelayNotified || m.State != Ready {
				return false
			}
		}
		return true
	})
	for _, id := range []ID{known.ID, fresh.ID} {
		if m, _ := q.Message(id); m.NextAttempt.After(t0.Add(60 * time.Second)) {
			t.Errorf("%s parked until %v after arrival, past its expiry at 60s", id, m.NextAttempt.Sub(t0))
		}
	}

	clk.Advance(40 * time.Second) // t0 + 60s: the expiry
	waitFor(t, "both expired at 60s", func() bool { return len(messages(t, s)) == 0 })
	waitFor(t, "two failure DSNs", func() bool { return dsns() == 4 })
	if n := p.count(p.calls, "down.test"); n != 0 {
		t.Errorf("the suspended destination was contacted %d times", n)
	}
}

// gatedOne is a Deliverer and Planner with one destination of window 1
// whose deliveries wait for the gate, then succeed.
type gatedOne struct {
	mu    sync.Mutex
	calls map[string]int // per recipient domain
	gate  chan struct{}
}

func (g *gatedOne) Plan(_ context.Context, m *Message, rcpts []int) []Job {
	return []Job{{Rcpts: rcpts, Dest: "mx/" + domainOf(m.Rcpts[rcpts[0]].Addr), Queue: "mx:" + domainOf(m.Rcpts[rcpts[0]].Addr), Max: 1}}
}

func (g *gatedOne) Deliver(ctx context.Context, m *Message, _ []byte, rcpts []int) []Result {
	d := domainOf(m.Rcpts[rcpts[0]].Addr)
	g.mu.Lock()
	g.calls[d]++
	g.mu.Unlock()
	if d == "slow.test" {
		select {
		case <-g.gate:
		case <-ctx.Done():
		}
	}
	out := make([]Result, len(rcpts))
	for k, i := range rcpts {
		out[k] = Result{Rcpt: i, Outcome: RelayedOK, Queue: "mx:" + d, Reply: "250 2.0.0 ok"}
	}
	return out
}

func (g *gatedOne) count(d string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.calls[d]
}

// Q-3, Q-6 (sched24): a delivery running when the expiry passes may
// finish (as Postfix lets it), but no job of an expired message starts
// after its expiry: a retry whose job waited in its destination's queue
// behind a slow delivery until past the expiry fails as expired when the
// slot frees, without a connection; the slow delivery's message, in
// delivery at its expiry, is delivered.
func TestNoJobStartsAfterExpiry(t *testing.T) {
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	g := &gatedOne{calls: map[string]int{}, gate: make(chan struct{})}
	q := NewManager(s, g, ManagerConfig{Hostname: "mx.test", Clock: clk, MaxActive: 10,
		RetrySchedule: []time.Duration{10 * time.Second}, MessageExpiration: 60 * time.Second,
		Scheduler: SchedulerConfig{InitialWindow: 1}})
	ctx, cancel := context.WithCancel(context.Background())
	released := false
	defer func() {
		if !released {
			close(g.gate)
		}
		cancel()
		q.Wait()
	}()
	// A retry, due at 1 s: its job will wait behind the slow one.
	retry := msg(s, "a@example.org", "y@slow.test")
	retry.State, retry.Arrived, retry.NextAttempt, retry.Attempts = Ready, t0, t0.Add(time.Second), 1
	retry.Rcpts[0].Queue, retry.Rcpts[0].LastReply = "mx:slow.test", "451 4.4.2 timeout"
	if err := s.Update(ctx, func(tx *Tx) error { return tx.PutNew(retry, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	q.Start(ctx)
	slow := msg(s, "a@example.org", "x@slow.test")
	slow.Arrived = t0
	if err := q.Submit(ctx, slow, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the slow delivery", func() bool { return g.count("slow.test") == 1 })
	clk.Advance(time.Second)
	waitFor(t, "the retry's job waiting for the slot", func() bool {
		for _, d := range q.Destinations() {
			if d.Name == "mx/slow.test" && d.Waiting == 1 {
				return true
			}
		}
		return false
	})
	clk.Advance(59 * time.Second) // t0 + 60s: both expire; the slow delivery runs on
	if n := len(messages(t, s)); n != 2 {
		t.Fatalf("%d messages at the expiry while one is in delivery and one waits for it, want 2", n)
	}
	released = true
	close(g.gate) // the slow delivery ends: its slot frees
	waitFor(t, "both settled", func() bool { return len(messages(t, s)) == 0 })
	if n := g.count("slow.test"); n != 1 {
		t.Errorf("%d connections to slow.test, want 1: the expired retry's job started after its expiry", n)
	}
	// The failure DSN of the retry, and no DSN of the delivered one.
	waitFor(t, "the retry's failure DSN", func() bool { return g.count("example.org") == 1 })
}

// Q-3 (sched24, a defect of rt23d's fix): the first attempt made at the
// expiry is for a message never tried, whose DSN would have no reply to
// report. A message whose attempts counted none — an operator's retry of
// mail a dead destination deferred at receipt — but whose next hop did
// answer is not tried again at or after its expiry: it fails with that
// reply, without a connection.
func TestNoAttemptAfterExpiryForMailTriedUncounted(t *testing.T) {
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	p := newPlanned()
	p.refuse["down.test"] = true
	q := NewManager(s, p, ManagerConfig{Hostname: "mx.test", Clock: clk,
		RetrySchedule: []time.Duration{10 * time.Minute}, MessageExpiration: 60 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { close(p.stop); cancel(); q.Wait() }()
	const refused = "451 4.4.1 connect to mx.down.test: connection refused"
	m := msg(s, "a@example.org", "x@down.test")
	m.State, m.Arrived, m.NextAttempt, m.Attempts = Ready, t0, t0.Add(60*time.Second), 0
	m.Rcpts[0].Queue, m.Rcpts[0].NextHop, m.Rcpts[0].LastReply = "mx:down.test", "mx.down.test[192.0.2.1]:25", refused
	if err := s.Update(ctx, func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	q.Start(ctx)
	clk.Advance(60 * time.Second)
	waitFor(t, "the expiry", func() bool { return len(messages(t, s)) == 0 })
	if n := p.count(p.calls, "down.test"); n != 0 {
		t.Errorf("down.test contacted %d times at the expiry of mail it had answered", n)
	}
	waitFor(t, "the failure DSN", func() bool { return p.count(p.done, "example.org") == 1 })
}

// Q-3, Q-6 (sched24): mail behind a dead destination expires at its
// expiry too, not when the cool-down ends: one message attempted when
// the destination went dead, one that arrived while it was dead (never
// attempted, answered by the dead mark). Cool-down 1h, expiry 60s: both
// fail at 60 s, with no second connection.
func TestDeadDestinationMailExpiresOnTime(t *testing.T) {
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	h := &busyHost{}
	q := NewManager(s, h, ManagerConfig{Hostname: "mx.test", Clock: clk, MessageExpiration: 60 * time.Second,
		RetrySchedule: []time.Duration{time.Hour}, Scheduler: SchedulerConfig{InitialWindow: 1, DeadCoolDown: time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	tried := msg(s, "a@example.org", "x@busy.test")
	tried.Arrived = t0
	if err := q.Submit(ctx, tried, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the failed attempt", func() bool {
		m, _ := q.Message(tried.ID)
		return m != nil && m.State == Ready && m.Attempts == 1
	})
	behind := msg(s, "b@example.org", "y@busy.test")
	behind.Arrived = t0
	if err := q.Submit(ctx, behind, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the dead mark's answer", func() bool {
		m, _ := q.Message(behind.ID)
		return m != nil && m.State == Ready && isDeadReply(m.Rcpts[0].LastReply)
	})
	for _, id := range []ID{tried.ID, behind.ID} {
		if m, _ := q.Message(id); m.NextAttempt.After(t0.Add(60 * time.Second)) {
			t.Errorf("%s due at %v after arrival, past its expiry at 60s", id, m.NextAttempt.Sub(t0))
		}
	}
	clk.Advance(60 * time.Second)
	waitFor(t, "both expired at 60s", func() bool {
		for _, m := range messages(t, s) {
			if m.Connector != "dsn" {
				return false
			}
		}
		return true
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.calls != 1 {
		t.Errorf("%d connections to the dead destination, want the one that made it dead", h.calls)
	}
}
