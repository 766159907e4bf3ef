package queue

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// planned is a Deliverer and Planner: a recipient's domain is its
// destination. A destination in stall blocks its attempts until the
// test ends; one in refuse answers as a host that cannot be reached.
type planned struct {
	mu     sync.Mutex
	calls  map[string]int // attempts per destination
	done   map[string]int // recipients relayed per destination
	stall  map[string]bool
	refuse map[string]bool
	stop   chan struct{}
	// suspended, when set, is the manager's IsSuspended: recipients
	// routed to a suspended queue are held, as the delivery package's
	// Plan and Deliver hold them (no connection).
	suspended func(queue string) bool
}

func newPlanned() *planned {
	return &planned{calls: map[string]int{}, done: map[string]int{}, stall: map[string]bool{}, refuse: map[string]bool{},
		stop: make(chan struct{})}
}

func domainOf(addr string) string { return addr[strings.LastIndexByte(addr, '@')+1:] }

func (p *planned) Plan(_ context.Context, m *Message, rcpts []int) []Job {
	var jobs []Job
	var held []int
	at := map[string]int{}
	for _, i := range rcpts {
		d := domainOf(m.Rcpts[i].Addr)
		if p.suspended != nil && p.suspended("mx:"+d) {
			held = append(held, i)
			continue
		}
		k, ok := at[d]
		if !ok {
			k = len(jobs)
			at[d] = k
			jobs = append(jobs, Job{Dest: "mx/" + d, Queue: "mx:" + d, Max: 2})
		}
		jobs[k].Rcpts = append(jobs[k].Rcpts, i)
	}
	if len(held) > 0 {
		jobs = append(jobs, Job{Rcpts: held}) // no destination: Deliver holds them
	}
	return jobs
}

func (p *planned) Deliver(ctx context.Context, m *Message, body []byte, rcpts []int) []Result {
	d := domainOf(m.Rcpts[rcpts[0]].Addr)
	if p.suspended != nil && p.suspended("mx:"+d) {
		out := make([]Result, len(rcpts))
		for k, i := range rcpts {
			q := "mx:" + domainOf(m.Rcpts[i].Addr)
			out[k] = Result{Rcpt: i, Outcome: Held, Queue: q, Reply: HeldReply(q)}
		}
		return out
	}
	p.mu.Lock()
	p.calls[d]++
	stall, refuse := p.stall[d], p.refuse[d]
	p.mu.Unlock()
	out := make([]Result, len(rcpts))
	if stall {
		select {
		case <-p.stop:
		case <-ctx.Done():
		}
		for k, i := range rcpts {
			out[k] = Result{Rcpt: i, Outcome: Deferred, Reply: "451 4.4.2 timeout"}
		}
		return out
	}
	for k, i := range rcpts {
		out[k] = Result{Rcpt: i, Outcome: RelayedOK, Queue: "mx:" + d, Reply: "250 2.0.0 ok"}
		if refuse {
			out[k] = Result{Rcpt: i, Outcome: Deferred, Queue: "mx:" + d, Reply: "451 4.4.1 connect to mx." + d + ": connection refused"}
		}
	}
	if !refuse {
		p.mu.Lock()
		p.done[d] += len(rcpts)
		p.mu.Unlock()
	}
	return out
}

func (p *planned) count(m map[string]int, d string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return m[d]
}

// TestSlowDestinationDoesNotBlockOthers: while every connection to one
// destination hangs, a burst for it larger than the active set does not
// keep the mail of other destinations out: all of it is delivered, and
// the hung destination never gets more connections than its window.
// (Before the scheduler, a message waited for its destination's slot
// while holding a slot of the active set, and the fast mail waited.)
func TestSlowDestinationDoesNotBlockOthers(t *testing.T) {
	s := openTest(t)
	p := newPlanned()
	p.stall["slow.test"] = true
	q := NewManager(s, p, ManagerConfig{MaxActive: 8})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { close(p.stop); cancel(); q.Wait() }()
	q.Start(ctx)
	for range 40 {
		if err := q.Submit(ctx, msg(s, "a@example.org", "x@slow.test"), []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	for range 100 {
		if err := q.Submit(ctx, msg(s, "a@example.org", "y@fast.test", "z@other.test"), []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "every fast recipient delivered", func() bool {
		return p.count(p.done, "fast.test") == 100 && p.count(p.done, "other.test") == 100
	})
	if n := p.count(p.calls, "slow.test"); n != 2 {
		t.Fatalf("%d attempts running at the hung destination, want its window of 2", n)
	}
	var slow *DestinationInfo
	for _, d := range q.Destinations() {
		if d.Name == "mx/slow.test" {
			slow = &d
		}
	}
	if slow == nil || slow.Running != 2 || slow.State != "active" {
		t.Fatalf("slow destination %+v, want 2 running", slow)
	}
	// The slow mail that did not fit its share waits in the time index,
	// unattempted: no retry step used, looked at again soon.
	throttled := 0
	for _, m := range messages(t, s) {
		if m.State != Ready || domainOf(m.Rcpts[0].Addr) != "slow.test" {
			continue
		}
		throttled++
		if m.Attempts != 0 || !strings.HasPrefix(m.Rcpts[0].LastReply, "452 4.3.2") || time.Until(m.NextAttempt) > time.Minute {
			t.Fatalf("throttled message: attempts %d, reply %q, next in %s", m.Attempts, m.Rcpts[0].LastReply, time.Until(m.NextAttempt))
		}
	}
	if throttled == 0 {
		t.Fatal("no slow message was held back from the active set")
	}
}

// TestDeadDestination: a destination whose every connection fails is
// marked dead after a failed cohort (as many failures in a row as its
// window), and its other waiting mail is deferred without a connection;
// after the cool-down one probe is let through.
func TestDeadDestination(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	p := newPlanned()
	p.refuse["down.test"] = true
	q := NewManager(s, p, ManagerConfig{MaxActive: 100, Clock: clk,
		Scheduler: SchedulerConfig{InitialWindow: 2, DeadCoolDown: time.Minute}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { close(p.stop); cancel(); q.Wait() }()
	// Queued before the scheduler runs: claimed together, in one pass.
	for range 10 {
		m := msg(s, "a@example.org", "x@down.test")
		m.Arrived = clk.Now()
		if err := s.Update(ctx, func(tx *Tx) error { m.State, m.NextAttempt = Ready, clk.Now(); return tx.PutNew(m, []byte(body)) }); err != nil {
			t.Fatal(err)
		}
	}
	q.Start(ctx)
	// Two attempts (the cohort) failed; the other eight were answered
	// without a connection, which is no attempt (no retry step used).
	waitFor(t, "all ten answers committed", func() bool {
		tried, dead := 0, 0
		for _, m := range messages(t, s) {
			switch {
			case m.State == Ready && m.Attempts == 1:
				tried++
			case m.State == Ready && m.Attempts == 0 && isDeadReply(m.Rcpts[0].LastReply) &&
				DisplayState(m, clk.Now()) == "retry": // waiting after a deferral, listed so
				dead++
			}
		}
		return tried == 2 && dead == 8
	})
	if n := p.count(p.calls, "down.test"); n != 2 {
		t.Fatalf("%d connections to a dead destination, want 2 (one failed cohort)", n)
	}
	var down DestinationInfo
	for _, d := range q.Destinations() {
		if d.Name == "mx/down.test" {
			down = d
		}
	}
	if down.State != "dead" || down.Window != 1 || !strings.Contains(down.LastError, "connection refused") {
		t.Fatalf("destination %+v, want dead with window 1", down)
	}
	for _, m := range messages(t, s) {
		if r := m.Rcpts[0].LastReply; !strings.HasPrefix(r, "451 4.4.1") {
			t.Fatalf("reply %q", r)
		}
	}
	// After the cool-down (and the messages' backoff) one probe goes out.
	p.mu.Lock()
	p.refuse["down.test"] = false
	p.mu.Unlock()
	clk.Advance(2 * time.Minute)
	q.Kick()
	waitFor(t, "the destination revived and its mail delivered", func() bool { return len(messages(t, s)) == 0 })
}

// TestManualRetryUsesNoBackoffStep: an operator's retry (of a queue, of
// a message, or a flush) is not a scheduled attempt: after it fails the message waits the step it
// was on, not the next one, and is due when it was before the retry (rt38 F2).
func TestManualRetryUsesNoBackoffStep(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	d := newScripted(func(string, int) (Outcome, string) { return Deferred, "451 4.3.0 try later" })
	sched := []time.Duration{time.Minute, 10 * time.Minute, time.Hour}
	q := NewManager(s, d, ManagerConfig{Clock: clk, RetrySchedule: sched})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	m := msg(s, "a@example.org", "x@example.net")
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	d.wait(t)
	attempted := func(n int) *Message {
		var got *Message
		waitFor(t, "the attempt committed", func() bool {
			got, _ = q.Message(m.ID)
			return got != nil && got.State == Ready && got.NextAttempt.After(clk.Now())
		})
		return got
	}
	got := attempted(1)
	if got.Attempts != 1 || got.NextAttempt.Sub(clk.Now()) != time.Minute {
		t.Fatalf("after the first attempt: attempts %d, next in %s", got.Attempts, got.NextAttempt.Sub(clk.Now()))
	}
	due := got.NextAttempt
	for _, retry := range []func() error{
		func() error { _, err := q.RetryQueue(ctx, queueOf(&m.Rcpts[0])); return err },
		func() error { return q.RetryMessage(ctx, m.ID) },
		func() error { _, err := q.Flush(ctx); return err },
	} {
		clk.Advance(10 * time.Second)
		if err := retry(); err != nil {
			t.Fatalf("retry: %v", err)
		}
		d.wait(t)
		got := attempted(1)
		if got.Attempts != 1 || !got.NextAttempt.Equal(due) || got.ManualRetry {
			t.Fatalf("after a manual retry: attempts %d, next in %s (want 1, in %s: when it was due before the retry, rt38 F2)",
				got.Attempts, got.NextAttempt.Sub(clk.Now()), due.Sub(clk.Now()))
		}
	}
	// The scheduled attempt counts again.
	clk.Advance(time.Minute)
	q.Kick()
	d.wait(t)
	waitFor(t, "the scheduled attempt committed", func() bool {
		got, _ := q.Message(m.ID)
		return got != nil && got.Attempts == 2 && got.State == Ready
	})
}

// TestFeedback: the window's signal from an attempt's results. A next
// hop that answered — even with 4xx or 5xx for every recipient — is a
// success; one that could not be reached or broke the session is a
// failure; an attempt that made no connection is neither.
func TestFeedback(t *testing.T) {
	for _, tc := range []struct {
		name string
		res  []Result
		want int
	}{
		{"relayed", []Result{{Outcome: RelayedOK, Reply: "250 2.0.0 ok"}}, +1},
		{"refused recipients", []Result{{Outcome: FailedPerm, Reply: "550 5.1.1 no such user"}}, +1},
		{"greylisted", []Result{{Outcome: Deferred, Reply: "451 4.7.1 greylisted"}}, +1},
		{"connection refused", []Result{{Outcome: Deferred, Reply: "451 4.4.1 connect to mx: refused"}}, -1},
		{"timeout", []Result{{Outcome: Deferred, Reply: "451 4.4.2 mx: i/o timeout"}, {Outcome: Deferred, Reply: "451 4.4.2 mx: i/o timeout"}}, -1},
		// rt17f-F3 (TLS-, Q-): a TLS policy refusal (MTA-STS, DANE,
		// REQUIRETLS) is the message's, not the host's: it neither
		// counts toward the destination's death nor shrinks its window.
		{"TLS required, not offered", []Result{{Outcome: Deferred, Reply: "451 4.7.5 mx: STARTTLS unavailable"}}, 0},
		{"MTA-STS refusal", []Result{{Outcome: Deferred, Reply: "451 4.7.5 mx.example:25: MTA-STS policy of example: STARTTLS not offered"}}, 0},
		// An enforced MTA-STS policy skipped a host and the hosts it lists
		// are down: the destination's failure (rt reread item 1).
		{"listed hosts down, unlisted skipped", []Result{{Outcome: Deferred, Reply: "451 4.4.1 connect to mx2.example[192.0.2.2]:25: connection refused (mx1.example not listed by the MTA-STS policy of example)"}}, -1},
		{"policy refusal and a broken host", []Result{{Outcome: Deferred, Reply: "451 4.7.5 REQUIRETLS: no verified TLS"}, {Outcome: Deferred, Reply: "451 4.4.1 connect to mx: refused"}}, -1},
		{"policy refusal and one answered", []Result{{Outcome: Deferred, Reply: "451 4.7.5 mx: STARTTLS unavailable"}, {Outcome: RelayedOK, Reply: "250 ok"}}, +1},
		{"one answered", []Result{{Outcome: Deferred, Reply: "451 4.4.2 lost"}, {Outcome: RelayedOK, Reply: "250 ok"}}, +1},
		{"held", []Result{{Outcome: Held, Reply: "452 4.3.2 queue suspended"}}, 0},
		{"shutting down", []Result{{Outcome: Deferred, Reply: stopReply}}, 0},
		{"stopped during a lookup", []Result{{Outcome: Deferred, Reply: StoppedDuring + "the MX lookup of example"}}, 0},
		// rt27d F3, its sibling: umbra's stop is known by its whole
		// words, not by "shutting down" in a reply; a host that says it
		// is shutting down with a 421 closed its session (deliv47: every
		// 421 is a failed contact, whatever its status), and one that
		// says so in a reply of a session it keeps answered.
		{"host shutting down, 421", []Result{{Outcome: Deferred, Reply: "421 4.3.2 Service shutting down, try again later"}}, -1},
		{"host shutting down, answered", []Result{{Outcome: Deferred, Answered: true, Reply: "451 4.3.2 Service shutting down, try again later"}}, +1},
		{"nothing", nil, 0},
	} {
		if got := feedback(tc.res); got != tc.want {
			t.Errorf("%s: feedback %d, want %d", tc.name, got, tc.want)
		}
	}
}

// TestFlushRevivesDeadDestination: an operator's flush ends a dead
// destination's cool-down at once (as Postfix's flush does): the mail is
// tried, not deferred by a mark made before the next hop came back.
func TestFlushRevivesDeadDestination(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	p := newPlanned()
	p.refuse["down.test"] = true
	q := NewManager(s, p, ManagerConfig{MaxActive: 100, Clock: clk,
		Scheduler: SchedulerConfig{InitialWindow: 1, DeadCoolDown: time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { close(p.stop); cancel(); q.Wait() }()
	q.Start(ctx)
	if err := q.Submit(ctx, msg(s, "a@example.org", "x@down.test"), []byte(body)); err != nil {
		t.Fatal(err)
	}
	dead := func() bool {
		for _, d := range q.Destinations() {
			if d.Name == "mx/down.test" {
				return d.State == "dead"
			}
		}
		return false
	}
	waitFor(t, "the destination dead", dead)
	// The attempt that made it dead commits its deferral after the mark;
	// a flush before that commit finds the message still in delivery.
	waitFor(t, "the deferral committed", func() bool {
		ms := messages(t, s)
		return len(ms) == 1 && ms[0].State == Ready
	})
	p.mu.Lock()
	p.refuse["down.test"] = false
	p.mu.Unlock()
	if _, err := q.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the message delivered after the flush", func() bool { return len(messages(t, s)) == 0 })
	if dead() {
		t.Fatal("still dead after a delivery")
	}
}

// gated delivers every recipient, each attempt only once its gate is
// open.
type gated struct {
	*planned
	gate chan struct{}
}

func (g gated) Deliver(ctx context.Context, m *Message, body []byte, rcpts []int) []Result {
	select {
	case <-g.gate:
	case <-ctx.Done():
	}
	return g.planned.Deliver(ctx, m, body, rcpts)
}

// TestThrottledMailFollowsTheDrain: mail held back because its
// destination held its share of a crowded active set is attempted once
// that destination has worked off what it held — not only when the
// recheck estimated at the verdict comes round. (A destination that
// drained early once showed RUNNING 0 while its mail waited up to a
// minute on "destination busy".) The clock never moves here: only the
// drain can bring the held mail back.
func TestThrottledMailFollowsTheDrain(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Now())
	g := gated{planned: newPlanned(), gate: make(chan struct{})}
	q := NewManager(s, g, ManagerConfig{MaxActive: 8, Clock: clk})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	const n = 30
	for range n {
		if err := q.Submit(ctx, msg(s, "a@example.org", "x@slow.test"), []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "a message held back on destination busy", func() bool {
		for _, m := range messages(t, s) {
			if m.State == Ready && strings.HasPrefix(m.Rcpts[0].LastReply, "452 4.3.2") {
				return true
			}
		}
		return false
	})
	close(g.gate)
	waitFor(t, "every message delivered after the drain", func() bool { return g.count(g.done, "slow.test") == n })
}

// panicky panics delivering to panic.test and otherwise is planned.
type panicky struct{ *planned }

func (p panicky) Deliver(ctx context.Context, m *Message, body []byte, rcpts []int) []Result {
	if domainOf(m.Rcpts[rcpts[0]].Addr) == "panic.test" {
		panic("test panic")
	}
	return p.planned.Deliver(ctx, m, body, rcpts)
}

// TestEveryJobGivesItsSlotBack: each way a job can end — delivered,
// deferred by an unreachable next hop until its destination is dead
// (then answered without a connection), a delivery that panics, one cut
// by shutdown, and jobs still waiting for a window at shutdown — gives
// its destination's window slot back: nothing is left running or
// waiting once the manager stopped. (A slot not given back would show
// as RUNNING with nothing in flight, and hold the destination's mail on
// "destination busy".)
func TestEveryJobGivesItsSlotBack(t *testing.T) {
	s := openTest(t)
	p := panicky{newPlanned()}
	p.stall["stall.test"] = true
	p.refuse["refuse.test"] = true
	q := NewManager(s, p, ManagerConfig{MaxActive: 50, PoisonThreshold: 2})
	ctx, cancel := context.WithCancel(context.Background())
	q.Start(ctx)
	for _, dom := range []string{"ok.test", "refuse.test", "panic.test", "stall.test"} {
		for range 6 { // more than the window of 2: some wait behind it
			if err := q.Submit(ctx, msg(s, "a@example.org", "x@"+dom), []byte(body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitFor(t, "the ok mail delivered and the stalled destination's window full", func() bool {
		for _, d := range q.Destinations() {
			if d.Name == "mx/stall.test" && d.Running == 2 {
				return p.count(p.done, "ok.test") == 6
			}
		}
		return false
	})
	waitFor(t, "the refused destination dead", func() bool {
		for _, d := range q.Destinations() {
			if d.Name == "mx/refuse.test" && d.State == "dead" {
				return d.Running == 0
			}
		}
		return false
	})
	cancel()
	close(p.stop)
	q.Wait()
	for _, d := range q.Destinations() {
		if d.Running != 0 || d.Waiting != 0 {
			t.Errorf("destination %s after the stop: %d running, %d waiting", d.Name, d.Running, d.Waiting)
		}
	}
}

// TestThrottledMailAfterRestart: a message held back on "destination
// busy" when the server was killed waits, after the restart, for a
// recheck estimated from a destination that no longer holds anything
// (the scheduler's state is memory). Recover makes it due at once. (It
// once waited ~50 s, its destination showing RUNNING 0.)
func TestThrottledMailAfterRestart(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Now())
	m := msg(s, "a@example.org", "x@slow.test")
	m.State, m.Arrived, m.NextAttempt = Ready, clk.Now(), clk.Now().Add(50*time.Second)
	m.Rcpts[0].LastReply = throttleReply
	other := msg(s, "a@example.org", "y@slow.test") // waiting on a retry step: left alone
	other.State, other.Arrived, other.NextAttempt, other.Attempts = Ready, clk.Now(), clk.Now().Add(50*time.Second), 1
	other.Rcpts[0].LastReply = "451 4.4.1 connection refused"
	if err := s.Update(context.Background(), func(tx *Tx) error {
		if err := tx.PutNew(m, []byte(body)); err != nil {
			return err
		}
		return tx.PutNew(other, []byte(body))
	}); err != nil {
		t.Fatal(err)
	}
	p := newPlanned()
	q := NewManager(s, p, ManagerConfig{MaxActive: 8, Clock: clk})
	if _, _, err := q.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	waitFor(t, "the held message delivered without waiting for its recheck", func() bool { return p.count(p.done, "slow.test") >= 1 })
	if n := p.count(p.calls, "slow.test"); n != 1 {
		t.Fatalf("%d attempts, want 1: the message on a retry step waits for it", n)
	}
}
