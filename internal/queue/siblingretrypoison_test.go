package queue

import (
	"context"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// panicSiblingHops: one job per recipient. a@fast.test is deferred on its
// first try and relayed on the next; b@hang.test hangs until the gate;
// c@panic.test's delivery panics once the panic gate opens.
type panicSiblingHops struct {
	mu        sync.Mutex
	tries     map[string]int
	gate      chan struct{}
	panicGate chan struct{}
}

func (h *panicSiblingHops) Plan(_ context.Context, m *Message, rcpts []int) []Job {
	var jobs []Job
	for _, i := range rcpts {
		d := domainOf(m.Rcpts[i].Addr)
		jobs = append(jobs, Job{Dest: "mx/" + d, Queue: "mx:" + d, Rcpts: []int{i}})
	}
	return jobs
}

func (h *panicSiblingHops) Deliver(ctx context.Context, m *Message, body []byte, rcpts []int) []Result {
	var out []Result
	for _, i := range rcpts {
		addr := m.Rcpts[i].Addr
		h.mu.Lock()
		h.tries[addr]++
		n := h.tries[addr]
		h.mu.Unlock()
		d := domainOf(addr)
		r := Result{Rcpt: i, Queue: "mx:" + d, NextHop: "mx." + d + "[192.0.2.9]:25"}
		switch d {
		case "panic.test":
			<-h.panicGate // every job of the attempt started first
			panic("delivery bug")
		case "hang.test":
			select {
			case <-h.gate:
			case <-ctx.Done():
			}
			r.Outcome, r.Reply = Deferred, "451 4.3.0 try later"
		default:
			if n == 1 {
				r.Outcome, r.Reply = Deferred, "451 4.3.0 try later"
			} else {
				r.Outcome, r.Reply = RelayedOK, "250 2.0.0 queued as X"
			}
		}
		out = append(out, r)
	}
	return out
}

func (h *panicSiblingHops) triesOf(addr string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.tries[addr]
}

// SPEC: once a job of the attempt panicked (the message goes
// to the poison queue at the attempt's end, which keeps only what the
// jobs committed themselves), the attempt starts no sibling retry. Seen
// to fail first: while b@hang.test's job hung, a@fast.test's deferral
// was retried after c@panic.test's delivery panicked; the retry relayed
// it (NOTIFY=SUCCESS: not committed by its job, jobcommit.go), the end
// poisoned the record with a@fast.test pending, and a release from the
// poison queue would send it a second time.
func TestQ6NoSiblingRetryAfterAPanic(t *testing.T) {
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	h := &panicSiblingHops{tries: map[string]int{}, gate: make(chan struct{}), panicGate: make(chan struct{})}
	q, ctx, open := startGatedHops(t, s, clk, h, h.gate)
	m := msg(s, "sender@example.org", "a@fast.test", "b@hang.test", "c@panic.test")
	m.Rcpts[0].Notify = NotifySuccess | NotifyFailure
	m.Arrived = t0
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the three jobs ran", func() bool {
		return h.triesOf("a@fast.test") == 1 && h.triesOf("b@hang.test") == 1 && h.triesOf("c@panic.test") == 1
	})
	close(h.panicGate)
	waitFor(t, "c's panic recorded by the attempt", func() bool { return attemptPanicked(q, m.ID) })
	clk.Advance(2 * time.Minute)
	for i := 0; i < 50 && h.triesOf("a@fast.test") < 2; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	open()
	waitFor(t, "the attempt's end", func() bool {
		got, _ := q.Message(m.ID)
		return got != nil && got.State != Active
	})
	got, _ := q.Message(m.ID)
	t.Logf("a@fast.test tried %d times; record %v, a@fast.test %v %q", h.triesOf("a@fast.test"), got.State, got.Rcpts[0].Status, got.Rcpts[0].LastReply)
	if h.triesOf("a@fast.test") > 1 && got.Rcpts[0].Status == Pending {
		t.Errorf("a@fast.test was relayed by the sibling retry after c's delivery panicked, but the %v record keeps it pending: a release from the poison queue sends it again", got.State)
	}
}

// attemptPanicked: the attempt of id in delivery has recorded a job's
// panic (a.panicked).
func attemptPanicked(q *Manager, id ID) bool {
	v, ok := q.inDelivery.Load(id)
	if !ok {
		return false
	}
	a := v.(*attempt)
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.panicked != ""
}
