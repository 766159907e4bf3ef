package queue

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/clock"
)

// panicCount is a PanicObserver.
type panicCount struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *panicCount) QueuePanic(part string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[part]++
}

func (c *panicCount) of(part string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[part]
}

// panicOnce makes the first work of part in q panic.
func panicOnce(q *Manager, part string) {
	var fired atomic.Bool
	f := func(p string) {
		if p == part && fired.CompareAndSwap(false, true) {
			panic("injected panic of " + part)
		}
	}
	q.panics.hook.Store(&f)
}

// removed: the message's record was removed (all done).
func removed(q *Manager, id ID) bool {
	_, err := q.Message(id)
	return errors.Is(err, ErrNotFound)
}

// SPEC Q-5: a panic of a delivery job's own code (before its end) is
// recovered, counted under its part and logged: the daemon serves on (a
// second message is delivered), and the message it was about is
// delivered later, once, never lost, never left Active. Seen to fail
// first: the test binary died of the panic. (The scheduler's loop and
// an attempt's end crash on purpose instead: panichold_test.go.)
func TestQueuePanicRecovered(t *testing.T) {
	for _, part := range []string{PanicJob} {
		t.Run(part, func(t *testing.T) {
			s := openTest(t)
			p := newPlanned()
			pc := &panicCount{}
			q := NewManager(s, p, ManagerConfig{MaxActive: 8, RetrySchedule: []time.Duration{20 * time.Millisecond}, Panics: pc})
			panicOnce(q, part)
			ctx, cancel := context.WithCancel(context.Background())
			defer func() { cancel(); q.Wait() }()
			q.Start(ctx)
			m1 := msg(s, "a@example.org", "x@one.test")
			if err := q.Submit(ctx, m1, []byte(body)); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the first message delivered and removed", func() bool {
				return p.count(p.done, "one.test") >= 1 && removed(q, m1.ID)
			})
			waitFor(t, "the panic counted", func() bool { return pc.of(part) == 1 })
			m2 := msg(s, "a@example.org", "y@one.test")
			if err := q.Submit(ctx, m2, []byte(body)); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the second message delivered", func() bool { return p.count(p.done, "one.test") >= 2 && removed(q, m2.ID) })
			if n := p.count(p.done, "one.test"); n != 2 {
				t.Fatalf("%d deliveries of two messages: one handed on twice", n)
			}
		})
	}
}

// SPEC Q-5: a panic while a dead destination's waiting jobs are
// answered (answerDead) leaves their recipients pending: each message
// is delivered once the destination is back, none left Active with its
// slot held.
func TestQueuePanicAnsweringDeadDestination(t *testing.T) {
	s := openTest(t)
	p := newPlanned()
	p.refuse["dead.test"] = true
	pc := &panicCount{}
	q := NewManager(s, p, ManagerConfig{MaxActive: 8, RetrySchedule: []time.Duration{20 * time.Millisecond}, Panics: pc,
		Scheduler: SchedulerConfig{DeadCoolDown: 300 * time.Millisecond}})
	panicOnce(q, PanicDead)
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	var ms []*Message
	for range 3 {
		m := msg(s, "a@example.org", "x@dead.test")
		if err := q.Submit(ctx, m, []byte(body)); err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	waitFor(t, "the panic answering the dead destination's jobs", func() bool { return pc.of(PanicDead) == 1 })
	p.mu.Lock()
	p.refuse["dead.test"] = false
	p.mu.Unlock()
	for _, m := range ms {
		waitFor(t, "each message delivered once the destination is back", func() bool { return removed(q, m.ID) })
	}
	if n := p.count(p.done, "dead.test"); n != 3 {
		t.Fatalf("%d deliveries of three messages", n)
	}
}

// SPEC Q-5, SR-6: a client's task that panics ends as a local fault —
// its slot back, no failure of the peer's counted — and the next task
// of the destination starts and runs.
func TestQueuePanicInTask(t *testing.T) {
	s := openTest(t)
	pc := &panicCount{}
	q := NewManager(s, newPlanned(), ManagerConfig{Panics: pc})
	panicOnce(q, PanicTask)
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	ran := make(chan struct{}, 2)
	task := func(context.Context) error { ran <- struct{}{}; return nil }
	if !q.StartTask(ctx, "shadow:p1", "shadow:p1", 1, task) {
		t.Fatal("the first task did not start")
	}
	waitFor(t, "the panic counted", func() bool { return pc.of(PanicTask) == 1 })
	var started bool
	waitFor(t, "the next task starting in the freed slot", func() bool {
		started = q.StartTask(ctx, "shadow:p1", "shadow:p1", 1, task)
		return started
	})
	select {
	case <-ran:
	case <-time.After(10 * time.Second):
		t.Fatal("the next task did not run")
	}
	for _, d := range q.Destinations() {
		if d.Name == "shadow:p1" && d.Failures != 0 {
			t.Fatalf("the panic counted as the peer's failure: %+v", d)
		}
	}
}

// SPEC: a panic of the timer that commits a delay notice beside
// a hung job leaves the notice to the attempt's end: it is made then,
// once.
func TestQueuePanicCommittingNotice(t *testing.T) {
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	h := &hangsFrom{gate: make(chan struct{}), hang: true}
	pc := &panicCount{}
	q, m := startHanging(t, s, h, clk, t0, ManagerConfig{Panics: pc, RetrySchedule: []time.Duration{time.Hour}, MessageExpiration: 24 * time.Hour, DelayNotification: 5 * time.Second}, func(q *Manager) { panicOnce(q, PanicNotice) })
	waitFor(t, "the first attempt hanging", func() bool { h.mu.Lock(); defer h.mu.Unlock(); return h.calls == 1 })
	clk.Advance(5 * time.Minute) // the notice's timer fires while the job hangs
	waitFor(t, "the panic of the notice's commit", func() bool { return pc.of(PanicNotice) == 1 })
	h.open()
	waitFor(t, "the notice made by the attempt's end", func() bool { return h.dsnCount() == 1 })
	waitFor(t, "the message waiting for its retry", func() bool {
		got, _ := q.Message(m.ID)
		return got != nil && got.State == Ready && got.DelayNotified
	})
}

// SPEC: a panic of the timer that cuts a running attempt at
// its message's expiry leaves the attempt to end as its session does:
// its recipients then fail as expired, the message leaves the queue.
func TestQueuePanicCuttingAtExpiry(t *testing.T) {
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	h := &hangsFrom{gate: make(chan struct{})}
	pc := &panicCount{}
	q, m := startHanging(t, s, h, clk, t0, ManagerConfig{Panics: pc, RetrySchedule: []time.Duration{4 * time.Second}, MessageExpiration: time.Minute}, func(q *Manager) { panicOnce(q, PanicExpiry) })
	waitFor(t, "the first deferral", func() bool {
		got, _ := q.Message(m.ID)
		return got != nil && got.State == Ready && got.Attempts == 1
	})
	h.mu.Lock()
	h.hang = true
	h.mu.Unlock()
	clk.Advance(4 * time.Second) // the retry hangs
	waitFor(t, "the retry", func() bool { h.mu.Lock(); defer h.mu.Unlock(); return h.calls == 2 })
	clk.Advance(time.Minute) // past the expiry: the cut's timer fires
	waitFor(t, "the panic of the expiry's cut", func() bool { return pc.of(PanicExpiry) == 1 })
	h.open()
	waitFor(t, "the expiry's failure DSN", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.dsns) == 1 && strings.Contains(h.dsns[0], "Action: failed")
	})
	waitFor(t, "the expired message removed", func() bool { return removed(q, m.ID) })
}

// SPEC Q-5, SR-6: a panic in a stall's round ends it as a round that
// returned: attempts start again, and mail is delivered.
func TestQueuePanicInStallRound(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	p := newPlanned()
	pc := &panicCount{}
	q := NewManager(s, p, ManagerConfig{Clock: clk, Hostname: "mx.test", Panics: pc})
	q.GuardStall(func() time.Duration { return 5 * time.Minute }, func(context.Context) {})
	panicOnce(q, PanicStall)
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	clk.Advance(6 * time.Minute) // the stall: the guard's tick or the next dispatch finds it
	m := msg(s, "a@example.org", "x@one.test")
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the panic of the stall's round", func() bool { return pc.of(PanicStall) == 1 })
	waitFor(t, "mail delivered after the round", func() bool { return removed(q, m.ID) })
	m2 := msg(s, "a@example.org", "y@one.test")
	if err := q.Submit(ctx, m2, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "mail after it delivered", func() bool { return removed(q, m2.ID) })
}

// SPEC Q-5: a job whose own code panics at every attempt does not turn
// into a loop of claims: its recipients are deferred "no result from
// delivery", the attempt counted, and the message waits its retry step.
// Seen to fail first: the message went back due at once, unattempted,
// and was claimed and panicked again without end.
func TestQueuePanicEveryJobWaitsTheRetryStep(t *testing.T) {
	s := openTest(t)
	pc := &panicCount{}
	q := NewManager(s, newPlanned(), ManagerConfig{MaxActive: 8, RetrySchedule: []time.Duration{time.Hour}, Panics: pc})
	f := func(part string) {
		if part == PanicJob {
			panic("injected panic of every job")
		}
	}
	q.panics.hook.Store(&f)
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	m := msg(s, "a@example.org", "x@one.test")
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the attempt counted and the message waiting its retry step", func() bool {
		got, _ := q.Message(m.ID)
		return got != nil && got.State == Ready && got.Attempts == 1
	})
	got, _ := q.Message(m.ID)
	if !got.NextAttempt.After(time.Now().Add(30*time.Minute)) || !strings.Contains(got.Rcpts[0].LastReply, "no result from delivery") {
		t.Fatalf("after the panic: next attempt %v, last reply %q", got.NextAttempt, got.Rcpts[0].LastReply)
	}
	if n := pc.of(PanicJob); n != 1 {
		t.Fatalf("%d panics of the job, want 1: the message was claimed again at once", n)
	}
}

// lockingPanicCount is a PanicObserver that, as a recovered panic of a
// job is counted, holds the attempt's lock for a moment on another
// goroutine's behalf: a sibling job's report, a delay notice, an
// expiry's look taking it at that instant.
type lockingPanicCount struct {
	panicCount
	q  *Manager
	id atomic.Uint64
}

func (c *lockingPanicCount) QueuePanic(part string) {
	c.panicCount.QueuePanic(part)
	v, ok := c.q.inDelivery.Load(ID(c.id.Load()))
	if part != PanicJob || !ok {
		return
	}
	a := v.(*attempt)
	a.mu.Lock()
	go func() {
		time.Sleep(100 * time.Millisecond)
		a.mu.Unlock()
	}()
}

// SPEC Q-5: a job whose own code panics while another holds its
// attempt's lock for a moment still has its recipients deferred "no
// result from delivery" with the attempt counted. Seen to fail first:
// noResult's TryLock gave up on the held lock, nothing was marked, and
// the message went back due at once, unattempted (attempts 0), to be
// claimed and panic again.
func TestQueuePanicJobWhileAttemptLockHeldWaitsTheRetryStep(t *testing.T) {
	s := openTest(t)
	pc := &lockingPanicCount{}
	q := NewManager(s, newPlanned(), ManagerConfig{MaxActive: 8, RetrySchedule: []time.Duration{time.Hour}, Panics: pc})
	pc.q = q
	f := func(part string) {
		if part == PanicJob {
			panic("injected panic of every job")
		}
	}
	q.panics.hook.Store(&f)
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	m := msg(s, "a@example.org", "x@one.test")
	pc.id.Store(uint64(m.ID))
	q.Start(ctx)
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the attempt ended and the message Ready", func() bool {
		got, _ := q.Message(m.ID)
		_, in := q.inDelivery.Load(m.ID)
		return got != nil && got.State == Ready && pc.of(PanicJob) >= 1 && !in
	})
	got, _ := q.Message(m.ID)
	if got.Attempts != 1 || !got.NextAttempt.After(time.Now().Add(30*time.Minute)) || !strings.Contains(got.Rcpts[0].LastReply, "no result from delivery") {
		t.Fatalf("after the panic: attempts %d, next attempt %v, last reply %q", got.Attempts, got.NextAttempt, got.Rcpts[0].LastReply)
	}
}
