package queue

import (
	"context"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// doorDeliverer is a Deliverer with one destination per domain ("mx/DOMAIN",
// queue "mx:DOMAIN"): a refused domain's connection is refused (a
// network failure: it counts toward the destination's death), a gated
// domain's first delivery hangs until its gate is closed and is then
// deferred by the host (4.3.0: the host answered, no death), any other
// is relayed. A gated delivery that is refused when its gate closes
// is refused. Every reply names its host, as delivery's do. order is
// each domain's recipients in the order their deliveries began.
type doorDeliverer struct {
	mu     sync.Mutex
	refuse map[string]bool
	gate   map[string]chan struct{}
	used   map[string]bool // the gate of the domain was met
	order  map[string][]string
}

func newDoorDeliverer() *doorDeliverer {
	return &doorDeliverer{refuse: map[string]bool{}, gate: map[string]chan struct{}{}, used: map[string]bool{}, order: map[string][]string{}}
}

func (g *doorDeliverer) Plan(_ context.Context, m *Message, rcpts []int) []Job {
	var jobs []Job
	at := map[string]int{}
	for _, i := range rcpts {
		d := domainOf(m.Rcpts[i].Addr)
		k, ok := at[d]
		if !ok {
			k = len(jobs)
			at[d] = k
			jobs = append(jobs, Job{Dest: "mx/" + d, Queue: "mx:" + d, Max: 2})
		}
		jobs[k].Rcpts = append(jobs[k].Rcpts, i)
	}
	return jobs
}

func (g *doorDeliverer) Deliver(ctx context.Context, m *Message, _ []byte, rcpts []int) []Result {
	d := domainOf(m.Rcpts[rcpts[0]].Addr)
	host := "mx." + d + "[192.0.2.1]:25"
	g.mu.Lock()
	for _, i := range rcpts {
		g.order[d] = append(g.order[d], m.Rcpts[i].Addr)
	}
	gate := g.gate[d]
	if g.used[d] {
		gate = nil
	}
	g.used[d] = true
	g.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
		}
	}
	g.mu.Lock()
	refuse := g.refuse[d]
	g.mu.Unlock()
	out := make([]Result, len(rcpts))
	for k, i := range rcpts {
		out[k] = Result{Rcpt: i, Outcome: RelayedOK, Queue: "mx:" + d, NextHop: host, Reply: "250 2.0.0 ok"}
		switch {
		case refuse:
			out[k].Outcome, out[k].Reply = Deferred, "451 4.4.1 connect to "+host+": connection refused"
		case gate != nil:
			out[k].Outcome, out[k].Reply = Deferred, "451 4.3.0 "+host+": try again later"
		}
	}
	return out
}

// open closes d's gate, once.
func (g *doorDeliverer) open(d string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if c, ok := g.gate[d]; ok {
		close(c)
		delete(g.gate, d)
	}
}

func (g *doorDeliverer) setRefuse(d string, on bool) {
	g.mu.Lock()
	g.refuse[d] = on
	g.mu.Unlock()
}

func (g *doorDeliverer) delivered(d string) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.order[d]...)
}

// replyLog records every defer event's reply, by recipient.
type replyLog struct {
	mu      sync.Mutex
	replies map[string][]string
}

func (l *replyLog) Event(name string, m *Message, r *Recipient, reply string) {
	if name != "defer" || r == nil {
		return
	}
	l.mu.Lock()
	if l.replies == nil {
		l.replies = map[string][]string{}
	}
	l.replies[r.Addr] = append(l.replies[r.Addr], reply)
	l.mu.Unlock()
}

func (l *replyLog) of(addr string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.replies[addr]...)
}

// deadRig is a manager over doorDeliverer whose destinations die after one
// failure (window 1) for a minute; the retry schedule's steps (10m, 1h)
// are far beyond every cool-down, so a message due before them is due
// by a cool-down's end.
func deadRig(t *testing.T, maxActive int, ev Events) (*Manager, *Store, *clock.Fake, *doorDeliverer, context.Context) {
	t.Helper()
	s := openTest(t)
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	g := newDoorDeliverer()
	if ev == nil {
		ev = nopEvents{}
	}
	q := NewManager(s, g, ManagerConfig{MaxActive: maxActive, Clock: clk, Events: ev,
		RetrySchedule: []time.Duration{10 * time.Minute, time.Hour},
		Scheduler:     SchedulerConfig{InitialWindow: 1, DeadCoolDown: time.Minute, ThrottleRecheck: 10 * time.Second}})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		g.mu.Lock()
		var gates []string
		for d := range g.gate {
			gates = append(gates, d)
		}
		g.mu.Unlock()
		for _, d := range gates {
			g.open(d)
		}
		cancel()
		q.Wait()
	})
	q.Start(ctx)
	return q, s, clk, g, ctx
}

// kill makes domain d's destination dead for a cool-down (one refused
// connection of a message of its own, left waiting) and returns that
// message and the cool-down's end.
func kill(t *testing.T, q *Manager, s *Store, clk *clock.Fake, g *doorDeliverer, ctx context.Context, d string) (*Message, time.Time) {
	t.Helper()
	g.setRefuse(d, true)
	k := submitAt(t, q, s, clk, ctx, "killer@"+d)
	waitFor(t, "the failure that makes "+d+" dead", func() bool {
		got, _ := q.Message(k.ID)
		return got != nil && got.State == Ready && got.Attempts == 1
	})
	for _, di := range q.Destinations() {
		if di.Name == "mx/"+d && di.State == "dead" {
			return k, di.DeadUntil
		}
	}
	t.Fatalf("%s not dead after its failure: %+v", d, q.Destinations())
	return nil, time.Time{}
}

func submitAt(t *testing.T, q *Manager, s *Store, clk *clock.Fake, ctx context.Context, rcpts ...string) *Message {
	t.Helper()
	m := msg(s, "a@example.org", rcpts...)
	m.Arrived = clk.Now()
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	return m
}

// settledReady waits until m's attempt is committed and over (its slot
// of the active set given back) with cond holding, and returns it.
func settledReady(t *testing.T, q *Manager, id ID, what string, cond func(*Message) bool) *Message {
	t.Helper()
	var got *Message
	waitFor(t, what, func() bool {
		got, _ = q.Message(id)
		return got != nil && got.State == Ready && cond(got) && attemptsRunning(q) == 0
	})
	return got
}

// Q-6 (rt33 F1): a recipient the dead mark answered while another job
// of its attempt held the attempt open past the cool-down's end is due
// at once when the attempt ends — not at the message's own retry step
// (10 minutes here), which let it expire although its destination had
// delivered its other mail since the cool-down's end.
func TestQ6DeadWaitDueAtOnceWhenAttemptEndsAfterCoolDown(t *testing.T) {
	q, s, clk, g, ctx := deadRig(t, 100, nil)
	_, end := kill(t, q, s, clk, g, ctx, "x.test")
	g.mu.Lock()
	g.gate["h.test"] = make(chan struct{})
	g.mu.Unlock()
	clk.Advance(5 * time.Second)
	m := submitAt(t, q, s, clk, ctx, "m@x.test", "h@h.test")
	waitFor(t, "h.test's delivery hanging", func() bool { return len(g.delivered("h.test")) == 1 })
	// X comes back; its cool-down ends while h.test still hangs, and
	// X delivers new mail (its killer waits for its own retry step).
	g.setRefuse("x.test", false)
	clk.Advance(end.Add(2 * time.Second).Sub(clk.Now()))
	k2 := submitAt(t, q, s, clk, ctx, "k2@x.test")
	waitFor(t, "X's other mail delivered after its cool-down", func() bool { got, _ := q.Message(k2.ID); return got == nil })
	g.open("h.test")
	// The attempt ends after X's cool-down's end: m@x.test is due at
	// once, and goes without the clock moving on to any retry step.
	q.Kick()
	waitFor(t, "m@x.test delivered without the clock reaching a retry step", func() bool {
		got, _ := q.Message(m.ID)
		return got == nil || got.Rcpts[0].Status != Pending
	})
}

// Q-6 (rt33 F1, the variant): a message whose recipients wait on two
// dead destinations is due at the earlier cool-down's end — each
// recipient at its own destination's — and message show and queue list
// say so: not the later end for both, with queue list naming a next
// retry for the earlier destination's queue that was not true for it.
func TestQ6DeadWaitEachRecipientDueAtItsOwnCoolDownEnd(t *testing.T) {
	q, s, clk, g, ctx := deadRig(t, 100, nil)
	_, endX := kill(t, q, s, clk, g, ctx, "x.test")
	clk.Advance(30 * time.Second)
	_, endY := kill(t, q, s, clk, g, ctx, "y.test")
	if !endX.Before(endY) {
		t.Fatalf("X's cool-down ends %v, Y's %v: want X's first", endX, endY)
	}
	clk.Advance(5 * time.Second)
	m := submitAt(t, q, s, clk, ctx, "mx@x.test", "my@y.test")
	got := settledReady(t, q, m.ID, "both recipients answered by the dead marks", func(got *Message) bool {
		return isDeadReply(got.Rcpts[0].LastReply) && isDeadReply(got.Rcpts[1].LastReply)
	})
	if !got.NextAttempt.Equal(endX) {
		t.Errorf("M due %v after X's cool-down's end, want at it (Y's ends %v after X's)", got.NextAttempt.Sub(endX), endY.Sub(endX))
	}
	if due := q.StateView().Due(got); !due.Equal(endX) {
		t.Errorf("message show's next is %v after X's cool-down's end, want at it", due.Sub(endX))
	}
	qs, err := q.Queues()
	if err != nil {
		t.Fatal(err)
	}
	for _, qi := range qs {
		want := map[string]time.Time{"mx:x.test": endX, "mx:y.test": endY}[qi.Name]
		if !want.IsZero() && !qi.NextRetry.Equal(want) {
			t.Errorf("queue list: %s next retry %v, want its cool-down's end %v", qi.Name, qi.NextRetry, want)
		}
	}
	// X's cool-down ends: mx goes then (Y is still dead).
	g.setRefuse("x.test", false)
	clk.Advance(endX.Sub(clk.Now()))
	q.Kick()
	waitFor(t, "mx@x.test delivered at X's cool-down's end", func() bool {
		got, _ := q.Message(m.ID)
		return got != nil && got.Rcpts[0].Status != Pending
	})
	got = settledReady(t, q, m.ID, "my@y.test waiting on Y again", func(got *Message) bool { return isDeadReply(got.Rcpts[1].LastReply) })
	if !got.NextAttempt.Equal(endY) {
		t.Errorf("my@y.test due %v after Y's cool-down's end, want at it", got.NextAttempt.Sub(endY))
	}
}

// Q-6 (rt33 F4): the probe at a cool-down's end is the oldest message
// the cool-down held. Each message the dead mark answered is due at the
// cool-down's end itself, not at the time left of it when it was
// answered counted again from its commit: a commit that came later
// (another commit to ride along with, a busy disk) put an older
// message behind a younger one, and the younger was the probe.
func TestQ6DeadWaitProbeIsTheOldestHeldMessage(t *testing.T) {
	q, s, clk, g, ctx := deadRig(t, 100, nil)
	_, end := kill(t, q, s, clk, g, ctx, "x.test")
	clk.Advance(5 * time.Second)
	// The older message's results are committed 3 s after its answer.
	var older ID
	lag := func(id ID) {
		if id == older {
			clk.Advance(3 * time.Second)
		}
	}
	q.sched.endReadHook.Store(&lag)
	a := msg(s, "a@example.org", "a@x.test")
	older = a.ID
	a.Arrived = clk.Now()
	if err := q.Submit(ctx, a, []byte(body)); err != nil {
		t.Fatal(err)
	}
	settledReady(t, q, a.ID, "the older message answered by the dead mark", func(got *Message) bool { return isDeadReply(got.Rcpts[0].LastReply) })
	q.sched.endReadHook.Store(nil)
	clk.Advance(time.Second)
	b := submitAt(t, q, s, clk, ctx, "b@x.test")
	settledReady(t, q, b.ID, "the younger message answered by the dead mark", func(got *Message) bool { return isDeadReply(got.Rcpts[0].LastReply) })
	for _, id := range []ID{a.ID, b.ID} {
		if got, _ := q.Message(id); !got.NextAttempt.Equal(end) {
			t.Errorf("%s due %v after the cool-down's end, want at it", got.Rcpts[0].Addr, got.NextAttempt.Sub(end))
		}
	}
	g.setRefuse("x.test", false)
	clk.Advance(end.Sub(clk.Now()))
	q.Kick()
	waitFor(t, "the probe", func() bool { return len(g.delivered("x.test")) > 1 })
	if got := g.delivered("x.test"); got[1] != "a@x.test" {
		t.Errorf("deliveries to X %q: the probe was %s, want the oldest message a@x.test", got, got[1])
	}
}
