package queue

import (
	"context"
	"testing"
	"time"
)

// SPEC Q-4: a queue's suspension is atomic with respect to the starts
// of its waiting jobs — no job of the queue starts once its mark is set
// unless the message was in delivery already: a job whose window frees
// between the mark and the withdrawal of the queue's waiting jobs
// (a running job of the destination ends then) stays withdrawn, never
// started in the just-suspended queue. Seen to fail first: the waiting
// job started between the two.
func TestSuspendQueueRacesAStart(t *testing.T) {
	s := openTest(t)
	p := &gatedPlanned{planned: newPlanned()} // the window (2) full until stop closes; then the jobs succeed
	q := NewManager(s, p, ManagerConfig{MaxActive: 64})
	p.suspended = q.IsSuspended
	ctx, cancel := context.WithCancel(context.Background())
	released := false
	defer func() {
		if !released {
			close(p.stop)
		}
		cancel()
		q.Wait()
	}()
	q.Start(ctx)
	var ms []*Message
	for range 3 {
		m := msg(s, "a@example.org", "x@slow.test")
		if err := q.Submit(ctx, m, []byte(body)); err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	waitFor(t, "two running, one waiting for the window", func() bool {
		r, w := waitingOn(q, "mx/slow.test")
		return r == 2 && w == 1
	})
	started := make(chan ID, 16)
	var inSuspended []ID
	startHook := func(jb *job, d *dest) {
		if d.queue == "mx:slow.test" && q.IsSuspended(d.queue) {
			inSuspended = append(inSuspended, jb.a.m.ID) // under the scheduler's lock
		}
		select {
		case started <- jb.a.m.ID:
		default:
		}
	}
	q.sched.startHook.Store(&startHook)
	defer q.sched.startHook.Store(nil)
	suspendHook := func() {
		// The running jobs end now: their slots free while the
		// suspension is under way.
		released = true
		close(p.stop)
		select {
		case <-started:
		case <-time.After(time.Second): // the start waits for the suspension: nothing to see
		}
	}
	q.sched.suspendHook.Store(&suspendHook)
	if err := q.SuspendQueue(ctx, "mx:slow.test"); err != nil {
		t.Fatal(err)
	}
	q.sched.suspendHook.Store(nil)
	q.sched.mu.Lock()
	got := append([]ID(nil), inSuspended...)
	q.sched.mu.Unlock()
	if len(got) > 0 {
		t.Fatalf("jobs of %v started in the queue after its suspension's mark was set", got)
	}
}

// gatedPlanned is planned whose deliveries wait for stop and then
// succeed (planned's stalled ones fail, and two failures make the
// destination dead).
type gatedPlanned struct{ *planned }

func (p *gatedPlanned) Deliver(ctx context.Context, m *Message, body []byte, rcpts []int) []Result {
	if p.suspended == nil || !p.suspended("mx:"+domainOf(m.Rcpts[rcpts[0]].Addr)) {
		select {
		case <-p.stop:
		case <-ctx.Done():
		}
	}
	return p.planned.Deliver(ctx, m, body, rcpts)
}
