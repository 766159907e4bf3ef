package queue

import (
	"context"
	"testing"
	"time"
)

// waitingOn is the destination name's running and waiting jobs.
func waitingOn(q *Manager, name string) (running, waiting int) {
	for _, d := range q.Destinations() {
		if d.Name == name {
			return d.Running, d.Waiting
		}
	}
	return 0, 0
}

// A message claimed and queued behind its destination's window (due,
// no job of it started) is the operator's: suspend, remove and a queue
// redirect take it out of the scheduler's queue in the command's
// commit, instead of answering "being delivered" while it waits, or
// leaving it to go out later to the old route. A withdrawal keeps the
// crash count the poison heuristic uses, and so does the resume
// of a suspended message. Seen to fail first: ErrBusy for each.
func TestOperatorWithdrawsMessageWaitingForWindow(t *testing.T) {
	s := openTest(t)
	p := newPlanned()
	p.stall["slow.test"] = true // the window (2) stays full
	q := NewManager(s, p, ManagerConfig{MaxActive: 64})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { close(p.stop); cancel(); q.Wait() }()
	q.Start(ctx)
	var ms []*Message
	for i := range 6 {
		m := msg(s, "a@example.org", "x@slow.test")
		if i == 5 {
			m.CrashCount = 1 // a suspect: one crash counted before
		}
		if err := q.Submit(ctx, m, []byte(body)); err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	waitFor(t, "two running, four waiting for the window", func() bool {
		r, w := waitingOn(q, "mx/slow.test")
		return r == 2 && w == 4
	})
	if got, _ := q.Message(ms[5].ID); got == nil || got.CrashCount != 1 {
		t.Fatalf("the suspect as stored: %+v", got)
	}
	// message suspend
	if err := q.SuspendMessage(ctx, ms[2].ID); err != nil {
		t.Fatalf("suspend of a message waiting for the window: %v", err)
	}
	if got, _ := q.Message(ms[2].ID); got == nil || got.State != Suspended {
		t.Fatalf("after suspend: %+v", got)
	}
	// message remove
	if err := q.RemoveMessage(ctx, ms[3].ID, false); err != nil {
		t.Fatalf("remove of a message waiting for the window: %v", err)
	}
	if got, err := q.Message(ms[3].ID); err == nil {
		t.Fatalf("after remove: still there, %s", got.State)
	}
	// queue redirect: the waiting message moves to the redirect's queue.
	n, err := q.RedirectQueue(ctx, "mx:slow.test", "standby.test:2525")
	if err != nil || n != 2 {
		t.Fatalf("redirect: %d messages, %v (want 2: the two still waiting)", n, err)
	}
	if got, _ := q.Message(ms[4].ID); got == nil || got.Rcpts[0].Redirect != "standby.test:2525" {
		t.Fatalf("after redirect: %+v", got)
	}
	// Both are due now and claimed again (planned ignores the
	// redirect): waiting behind the window once more.
	waitFor(t, "the redirected messages waiting again", func() bool {
		_, w := waitingOn(q, "mx/slow.test")
		return w == 2
	})
	// The suspect: suspended and resumed, its crash still counted.
	if err := q.SuspendMessage(ctx, ms[5].ID); err != nil {
		t.Fatalf("suspend of the suspect: %v", err)
	}
	if got, _ := q.Message(ms[5].ID); got == nil || got.State != Suspended || got.CrashCount != 1 {
		t.Fatalf("the suspect after suspend: %+v", got)
	}
	if err := q.ResumeMessage(ctx, ms[5].ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := q.Message(ms[5].ID); got == nil || got.CrashCount != 1 {
		t.Fatalf("the suspect after resume: crash count %d, want 1", got.CrashCount)
	}
	// Nothing withdrawn ran; the two running still hold the window.
	if c := p.count(p.calls, "slow.test"); c != 2 {
		t.Fatalf("%d attempts at the destination, want 2", c)
	}
}

// A queue's suspension withdraws every message waiting behind its
// destination's window in one walk of the scheduler's queues (it took
// the scheduler's lock and rescanned the queues once per message): the
// destination leaves the round robin, another destination's waiting
// jobs stay where they were, and the messages are Ready again.
func TestSuspendQueueWithdrawsEveryWaitingMessage(t *testing.T) {
	s := openTest(t)
	p := newPlanned()
	p.stall["slow.test"], p.stall["other.test"] = true, true // the windows (2) stay full
	q := NewManager(s, p, ManagerConfig{MaxActive: 256})
	p.suspended = q.IsSuspended // a suspended queue's recipients are held, as by the delivery package
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { close(p.stop); cancel(); q.Wait() }()
	q.Start(ctx)
	var slow []*Message
	for i := range 50 {
		to := "x@slow.test"
		if i%5 == 4 {
			to = "y@other.test"
		}
		m := msg(s, "a@example.org", to)
		if err := q.Submit(ctx, m, []byte(body)); err != nil {
			t.Fatal(err)
		}
		if to == "x@slow.test" {
			slow = append(slow, m)
		}
	}
	waitFor(t, "38 and 8 waiting for the windows", func() bool {
		_, ws := waitingOn(q, "mx/slow.test")
		_, wo := waitingOn(q, "mx/other.test")
		return ws == 38 && wo == 8
	})
	if err := q.SuspendQueue(ctx, "mx:slow.test"); err != nil {
		t.Fatal(err)
	}
	if r, w := waitingOn(q, "mx/slow.test"); r != 2 || w != 0 {
		t.Fatalf("slow.test after the suspension: %d running, %d waiting; want 2, 0", r, w)
	}
	if r, w := waitingOn(q, "mx/other.test"); r != 2 || w != 8 {
		t.Fatalf("other.test after the suspension: %d running, %d waiting; want 2, 8", r, w)
	}
	q.sched.mu.Lock()
	var ring []string
	for _, d := range q.sched.ring {
		ring = append(ring, d.key)
	}
	next := q.sched.next
	q.sched.mu.Unlock()
	if len(ring) != 1 || ring[0] != "mx/other.test" || next < 0 || next > len(ring) {
		t.Fatalf("round robin after the suspension: %v, next %d", ring, next)
	}
	// Ready in the suspension's commit; the kick that follows may claim
	// them again at once (they never had an attempt: their recipients'
	// queue is still the submission queue), and the plan of that claim
	// finds the route's queue suspended and holds them (Ready again, due
	// at the hold's recheck). The records are read once the scheduler is
	// done with them, not at a moment it may hold one Active for that
	// claim (read at once, some were, under load). A message left Active
	// by its old attempt never gets there: its job waits behind the
	// stalled windows.
	ready := 0
	deadline := time.Now().Add(10 * time.Second)
	for ready != 38 && time.Now().Before(deadline) {
		ready = 0
		for _, m := range slow {
			if got, err := q.Message(m.ID); err == nil && got.State == Ready {
				ready++
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	if ready != 38 {
		t.Fatalf("%d of the withdrawn messages Ready, want 38", ready)
	}
	if got := p.count(p.calls, "slow.test"); got != 2 {
		t.Fatalf("%d attempts reached slow.test, want the 2 that held its window: a withdrawn job started", got)
	}
}
