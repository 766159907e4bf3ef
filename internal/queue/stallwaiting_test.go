package queue

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// windowOne plans every message to one destination of window 1 and
// holds the delivery of message first until gate closes, so that the
// messages claimed after it wait in the destination's queue.
type windowOne struct {
	mu    sync.Mutex
	gate  chan struct{}
	first ID
	calls map[ID]int
}

func (o *windowOne) Plan(_ context.Context, m *Message, rcpts []int) []Job {
	return []Job{{Dest: "mx/x.example", Queue: "mx:x.example", Max: 1, Rcpts: rcpts}}
}

func (o *windowOne) Deliver(_ context.Context, m *Message, _ []byte, rcpts []int) []Result {
	o.mu.Lock()
	o.calls[m.ID]++
	first := m.ID == o.first
	o.mu.Unlock()
	if first {
		<-o.gate
	}
	out := make([]Result, len(rcpts))
	for k, i := range rcpts {
		out[k] = Result{Rcpt: i, Outcome: RelayedOK, Queue: "mx:x.example", NextHop: "mx.x.example", Reply: "250 ok"}
	}
	return out
}

func (o *windowOne) attempts(id ID) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.calls[id]
}

// After a stall past the takeover delay, a message claimed before it
// whose job only waited for its destination's window (no job of it
// started) is given back before the round of questions to the holders
// (SR-8, shadow redundancy: what the shadow server finished meanwhile is
// neither delivered nor reported again; rr21b): the round finds it
// Ready, marks its recipient done there, and nothing of it is sent.
func TestStallGivesBackJobsWaitingForTheirWindow(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	o := &windowOne{gate: make(chan struct{}), calls: map[ID]int{}}
	q := NewManager(s, o, ManagerConfig{MaxActive: 100, Clock: clk, Hostname: "mx.test", RetrySchedule: []time.Duration{time.Minute},
		Scheduler: SchedulerConfig{InitialWindow: 1}})
	const org = "0123456789abcdef0123456789abcdef"
	var inDel, changed int
	var state State
	roundDone := make(chan struct{})
	var m2 *Message
	q.GuardStall(func() time.Duration { return 5 * time.Minute }, func(ctx context.Context) {
		if got, _ := q.Message(m2.ID); got != nil {
			state = got.State
		}
		fe, busy, err := q.ShadowFinishedElsewhere("hub-b", []TakenDone{{ID: org, Addr: "y@x.example", Kind: TakenDelivered}})
		if err != nil {
			t.Error(err)
		}
		changed, inDel = len(fe), busy
		close(roundDone)
	})
	ctx, cancel := context.WithCancel(context.Background())
	var open sync.Once
	release := func() { open.Do(func() { close(o.gate) }) }
	defer func() { release(); cancel(); q.Wait() }()
	q.Start(ctx)
	m1 := msg(s, "a@example.org", "w@x.example")
	o.first = m1.ID
	q.Submit(ctx, m1, []byte(body))
	waitFor(t, "m1 in its session", func() bool { return o.attempts(m1.ID) == 1 })
	m2 = msg(s, "a@example.org", "y@x.example")
	m2.OrgID, m2.ShadowServer, m2.ShadowID = org, "hub-b", org
	q.Submit(ctx, m2, []byte(body))
	waitFor(t, "m2 claimed, waiting for the window", func() bool { return q.WaitingForWindow(m2.ID) })
	// The stall: hub-b takes m2's copy over and delivers it meanwhile.
	clk.Advance(6 * time.Minute)
	select {
	case <-roundDone:
	case <-time.After(10 * time.Second):
		t.Fatal("no round of questions after the stall")
	}
	if state != Ready || changed != 1 || inDel != 0 {
		t.Fatalf("the round found m2 %v (want Ready: given back), changed %d recipients (want 1), %d in delivery (want 0)", state, changed, inDel)
	}
	release()
	waitFor(t, "m2 gone", func() bool { got, _ := q.Message(m2.ID); return got == nil })
	waitFor(t, "m1 delivered", func() bool { got, _ := q.Message(m1.ID); return got == nil })
	if n := o.attempts(m2.ID); n != 0 {
		t.Fatalf("m2, finished by hub-b during the stall, was delivered here again (%d attempts)", n)
	}
}

// perDomain plans each recipient to a destination of its own domain
// (window 5) and holds the delivery of message first until gate closes.
type perDomain struct{ windowOne }

func (o *perDomain) Plan(_ context.Context, m *Message, rcpts []int) []Job {
	_, dom, _ := strings.Cut(m.Rcpts[rcpts[0]].Addr, "@")
	return []Job{{Dest: "mx/" + dom, Queue: "mx:" + dom, Max: 5, Rcpts: rcpts}}
}

// A suspect's job handed on to a worker and waiting for the suspects'
// turn (another suspect's attempt holds it, in its session) has not
// started either: after a stall it is given back before the round as a
// job waiting for its window is (SR-8; rr21b).
func TestStallGivesBackSuspectWaitingForTheTurn(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	o := &perDomain{windowOne{gate: make(chan struct{}), calls: map[ID]int{}}}
	q := NewManager(s, o, ManagerConfig{MaxActive: 100, Clock: clk, Hostname: "mx.test", RetrySchedule: []time.Duration{time.Minute}})
	const org = "0123456789abcdef0123456789abcdef"
	var inDel, changed int
	roundDone := make(chan struct{})
	q.GuardStall(func() time.Duration { return 5 * time.Minute }, func(ctx context.Context) {
		fe, busy, err := q.ShadowFinishedElsewhere("hub-b", []TakenDone{{ID: org, Addr: "y@y.example", Kind: TakenDelivered}})
		if err != nil {
			t.Error(err)
		}
		changed, inDel = len(fe), busy
		close(roundDone)
	})
	ctx, cancel := context.WithCancel(context.Background())
	var open sync.Once
	release := func() { open.Do(func() { close(o.gate) }) }
	defer func() { release(); cancel(); q.Wait() }()
	q.Start(ctx)
	m1 := msg(s, "a@example.org", "w@x.example")
	m1.CrashCount = 1
	o.first = m1.ID
	q.Submit(ctx, m1, []byte(body))
	waitFor(t, "m1 in its session, holding the suspects' turn", func() bool { return o.attempts(m1.ID) == 1 })
	m2 := msg(s, "a@example.org", "y@y.example")
	m2.CrashCount = 1
	m2.OrgID, m2.ShadowServer, m2.ShadowID = org, "hub-b", org
	q.Submit(ctx, m2, []byte(body))
	waitFor(t, "m2 waiting for the turn", func() bool {
		got, _ := q.Message(m2.ID)
		return got != nil && got.State == Active && !q.WaitingForWindow(m2.ID)
	})
	clk.Advance(6 * time.Minute) // past the turn's bound too: without the give-back m2 would take it over
	select {
	case <-roundDone:
	case <-time.After(10 * time.Second):
		t.Fatal("no round of questions after the stall")
	}
	if changed != 1 || inDel != 0 {
		t.Fatalf("the round changed %d recipients (want 1), %d in delivery (want 0): m2 was not given back", changed, inDel)
	}
	release()
	waitFor(t, "m2 gone", func() bool { got, _ := q.Message(m2.ID); return got == nil })
	waitFor(t, "m1 delivered", func() bool { got, _ := q.Message(m1.ID); return got == nil })
	if n := o.attempts(m2.ID); n != 0 {
		t.Fatalf("m2, finished by hub-b during the stall, was delivered here again (%d attempts)", n)
	}
}

// While a stall's round runs, the scheduler's loop waits for the
// round's kick: claimDue claims nothing meanwhile and the overdue mail
// stays due, so a loop that came round at once for it would spin a
// core for the round's whole time (rr21b). Counted in loop passes: a
// handful, not the hundreds of thousands of a spinning loop.
func TestStallRoundLoopWaits(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	accept := false
	d, del := queuedDeliverer(&accept)
	q := NewManager(s, del, ManagerConfig{Clock: clk, Hostname: "mx.test", RetrySchedule: []time.Duration{time.Minute}})
	began := make(chan struct{}, 1)
	release := make(chan struct{})
	q.GuardStall(func() time.Duration { return 5 * time.Minute }, func(ctx context.Context) {
		began <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	var once sync.Once
	end := func() { once.Do(func() { close(release) }) }
	defer func() { end(); cancel(); q.Wait() }()
	q.Start(ctx)
	m := msg(s, "a@example.org", "x@slow.example")
	q.Submit(ctx, m, []byte(body))
	d.wait(t)
	waitFor(t, "deferral", func() bool { got, _ := q.Message(m.ID); return got != nil && got.State == Ready })
	clk.Advance(6 * time.Minute) // the stall: the retry is overdue
	select {
	case <-began:
	case <-time.After(10 * time.Second):
		t.Fatal("no round after the stall")
	}
	before := q.loopPasses.Load()
	time.Sleep(200 * time.Millisecond) // the round runs on; the loop must not
	if n := q.loopPasses.Load() - before; n > 20 {
		t.Fatalf("the scheduler's loop came round %d times while the stall's round ran, want it waiting for the round's kick", n)
	}
	end()
	d.wait(t) // the overdue retry runs once the round ended
}
