package queue

import (
	"context"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// perRcptHops plans one job per recipient, each to its domain's
// destination: recipients of hang.test hang until the gate opens, every
// other one is deferred at once.
type perRcptHops struct {
	mu    sync.Mutex
	tries map[string]int
	gate  chan struct{}
}

func (h *perRcptHops) Plan(_ context.Context, m *Message, rcpts []int) []Job {
	var jobs []Job
	for _, i := range rcpts {
		d := domainOf(m.Rcpts[i].Addr)
		jobs = append(jobs, Job{Dest: "mx/" + d, Queue: "mx:" + d, Rcpts: []int{i}})
	}
	return jobs
}

func (h *perRcptHops) Deliver(ctx context.Context, m *Message, body []byte, rcpts []int) []Result {
	var out []Result
	for _, i := range rcpts {
		addr := m.Rcpts[i].Addr
		h.mu.Lock()
		h.tries[addr]++
		h.mu.Unlock()
		d := domainOf(addr)
		if d == "hang.test" {
			select {
			case <-h.gate:
			case <-ctx.Done():
			}
		}
		out = append(out, Result{Rcpt: i, Outcome: Deferred, Queue: "mx:" + d, NextHop: "mx." + d + "[192.0.2.9]:25", Reply: "451 4.3.0 try later"})
	}
	return out
}

func (h *perRcptHops) triesOf(addr string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.tries[addr]
}

// SPEC Q-3, Q-6 (sched31 D1): a job's deferral does not wait for a hung
// job of the same attempt. A message with a recipient whose next hop
// hangs and one whose next hop defers at once: the deferred recipient
// is retried at its retry time while the hung job still runs, and
// again at the next step; when the hung job ends the attempt commits
// both with their last replies, one attempt counted. Seen to fail
// first: its retry waited for the hung job's end (a Ready record has
// one retry time and one writer: the attempt, until its last job
// ends).
func TestFinishedSiblingRetriedWhileAJobHangs(t *testing.T) {
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	h := &perRcptHops{tries: map[string]int{}, gate: make(chan struct{})}
	q, ctx, open := startGatedHops(t, s, clk, h, h.gate)
	m := msg(s, "sender@example.org", "a@fast.test", "b@hang.test")
	m.Arrived = t0
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both jobs started", func() bool { return h.triesOf("a@fast.test") == 1 && h.triesOf("b@hang.test") == 1 })
	clk.Advance(2 * time.Minute) // a@fast.test's retry falls due; b@hang.test's session hangs on
	waitFor(t, "the deferred recipient retried while its sibling's job hangs", func() bool { return h.triesOf("a@fast.test") == 2 })
	if got, _ := q.Message(m.ID); got == nil || got.State != Active {
		t.Fatalf("the record while the hung job runs: %+v; want Active (one writer: the attempt)", got)
	}
	clk.Advance(2 * time.Minute)
	waitFor(t, "the next retry while the job still hangs", func() bool { return h.triesOf("a@fast.test") == 3 })
	open()
	waitFor(t, "the attempt's end", func() bool {
		got, _ := q.Message(m.ID)
		return got != nil && got.State == Ready && got.Attempts == 1
	})
	got, _ := q.Message(m.ID)
	for _, rc := range got.Rcpts {
		if rc.Status != Pending || rc.LastReply != "451 4.3.0 try later" || rc.Queue != "mx:"+domainOf(rc.Addr) {
			t.Errorf("recipient %s after the attempt: %+v", rc.Addr, rc)
		}
	}
	if n := h.triesOf("b@hang.test"); n != 1 {
		t.Errorf("the hung recipient was tried %d times, want 1", n)
	}
}

// startGatedHops starts a queue manager over s with the deliverer d
// whose held sessions wait on gate, its clock clk, a retry a minute and
// messages expiring in an hour. open opens the gate; when the test ends
// the gate is opened if it was not and the manager stopped.
func startGatedHops(t *testing.T, s *Store, clk *clock.Fake, d Deliverer, gate chan struct{}) (q *Manager, ctx context.Context, open func()) {
	t.Helper()
	q = NewManager(s, d, ManagerConfig{Hostname: "mx.test", Clock: clk,
		RetrySchedule: []time.Duration{time.Minute}, MessageExpiration: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	var once sync.Once
	open = func() { once.Do(func() { close(gate) }) }
	t.Cleanup(func() {
		open()
		cancel()
		q.Wait()
	})
	q.Start(ctx)
	return q, ctx, open
}
