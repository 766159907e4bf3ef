package queue

import (
	"context"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// poisonWaitHops: one job per recipient, every destination's window 1.
// slow@fast.test hangs until the gate opens; c@panic.test's delivery
// panics; every other recipient is relayed at once.
type poisonWaitHops struct {
	mu    sync.Mutex
	tries map[string]int
	gate  chan struct{}
}

func (h *poisonWaitHops) Plan(_ context.Context, m *Message, rcpts []int) []Job {
	var jobs []Job
	for _, i := range rcpts {
		d := domainOf(m.Rcpts[i].Addr)
		jobs = append(jobs, Job{Dest: "mx/" + d, Queue: "mx:" + d, Max: 1, Rcpts: []int{i}})
	}
	return jobs
}

func (h *poisonWaitHops) Deliver(ctx context.Context, m *Message, body []byte, rcpts []int) []Result {
	var out []Result
	for _, i := range rcpts {
		addr := m.Rcpts[i].Addr
		h.mu.Lock()
		h.tries[addr]++
		h.mu.Unlock()
		d := domainOf(addr)
		r := Result{Rcpt: i, Queue: "mx:" + d, NextHop: "mx." + d + "[192.0.2.9]:25", Outcome: RelayedOK, Reply: "250 2.0.0 queued as X"}
		switch {
		case d == "panic.test":
			panic("delivery bug")
		case addr == "slow@fast.test":
			select {
			case <-h.gate:
			case <-ctx.Done():
			}
		}
		out = append(out, r)
	}
	return out
}

func (h *poisonWaitHops) triesOf(addr string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.tries[addr]
}

// SPEC: a job still waiting for its destination's window when
// another job of its attempt panicked does not start: the attempt goes
// to the poison queue, which keeps only what the jobs committed
// themselves. a@fast.test (NOTIFY=SUCCESS) waits behind another
// message's hung job for fast.test's one slot while c@panic.test's
// delivery panics. Seen to fail first: the slot freed, a@fast.test's job
// started and relayed it — not committed by its job (a success DSN is
// the end's, jobcommit.go) — and the poison record kept it pending: a
// release from the poison queue would send it a second time.
func TestQ6PoisonedAttemptStartsNoWaitingJob(t *testing.T) {
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	h := &poisonWaitHops{tries: map[string]int{}, gate: make(chan struct{})}
	q, ctx, open := startGatedHops(t, s, clk, h, h.gate)
	m2 := msg(s, "sender@example.org", "slow@fast.test")
	m2.Arrived = t0
	if err := q.Submit(ctx, m2, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "slow@fast.test's job holds fast.test's slot", func() bool { return h.triesOf("slow@fast.test") == 1 })
	m := msg(s, "sender@example.org", "a@fast.test", "c@panic.test")
	m.Rcpts[0].Notify = NotifySuccess | NotifyFailure
	m.Arrived = t0
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "c's panic recorded by the attempt", func() bool { return attemptPanicked(q, m.ID) })
	open()
	waitFor(t, "the attempt's end", func() bool {
		got, _ := q.Message(m.ID)
		return got != nil && got.State != Active
	})
	got, _ := q.Message(m.ID)
	t.Logf("a@fast.test tried %d times; record %v, a@fast.test %v %q", h.triesOf("a@fast.test"), got.State, got.Rcpts[0].Status, got.Rcpts[0].LastReply)
	if got.State != Poison {
		t.Errorf("record %v after a delivery panic, want poison", got.State)
	}
	if h.triesOf("a@fast.test") > 0 && got.Rcpts[0].Status == Pending {
		t.Errorf("a@fast.test's waiting job started after c's delivery panicked and relayed it, but the %v record keeps it pending: a release from the poison queue sends it again", got.State)
	}
}
