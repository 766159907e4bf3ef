package queue

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// retryWaitHops: one job per recipient, every destination's window 1.
// a@fast.test is deferred at once by its host ("452 4.2.2 mailbox
// full"); every other recipient hangs until the gate opens or the stop.
type retryWaitHops struct {
	mu    sync.Mutex
	tries map[string]int
	gate  chan struct{}
}

func (h *retryWaitHops) Plan(_ context.Context, m *Message, rcpts []int) []Job {
	var jobs []Job
	for _, i := range rcpts {
		d := domainOf(m.Rcpts[i].Addr)
		jobs = append(jobs, Job{Dest: "mx/" + d, Queue: "mx:" + d, Max: 1, Rcpts: []int{i}})
	}
	return jobs
}

const retryWaitReply = "452 4.2.2 mailbox full"

func (h *retryWaitHops) Deliver(ctx context.Context, m *Message, body []byte, rcpts []int) []Result {
	var out []Result
	for _, i := range rcpts {
		addr := m.Rcpts[i].Addr
		h.mu.Lock()
		h.tries[addr]++
		h.mu.Unlock()
		d := domainOf(addr)
		if addr != "a@fast.test" {
			select {
			case <-h.gate:
			case <-ctx.Done():
			}
		}
		reply := retryWaitReply
		if addr != "a@fast.test" {
			reply = "451 4.3.0 try later"
		}
		out = append(out, Result{Rcpt: i, Outcome: Deferred, Queue: "mx:" + d, NextHop: "mx." + d + "[192.0.2.9]:25", Reply: reply})
	}
	return out
}

func (h *retryWaitHops) triesOf(addr string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.tries[addr]
}

func destWaiting(q *Manager, dest string) int {
	for _, d := range q.Destinations() {
		if d.Name == dest {
			return d.Waiting
		}
	}
	return 0
}

// SPEC: a sibling's retried job that never reaches the
// deliverer keeps the recipient's host reply of this attempt. The retry
// of a@fast.test falls due while b@hang.test's job hangs, and its job
// waits behind another message's for fast.test's one slot when the
// server stops: the stop sends it back unstarted. Seen to fail first:
// the retry dropped a@fast.test's first result ("452 4.2.2 mailbox
// full" from mx.fast.test) when its timer fired, and the attempt's end
// wrote umbra's "no result from delivery" with no host, as if delivery
// had lost the recipient.
func TestQ3SiblingRetryNotStartedKeepsHostReply(t *testing.T) {
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	h := &retryWaitHops{tries: map[string]int{}, gate: make(chan struct{})}
	q := NewManager(s, h, ManagerConfig{Hostname: "mx.test", Clock: clk,
		RetrySchedule: []time.Duration{time.Minute}, MessageExpiration: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	stopped := false
	defer func() {
		if !stopped {
			cancel()
			q.Wait()
		}
		close(h.gate)
	}()
	q.Start(ctx)
	m := msg(s, "sender@example.org", "a@fast.test", "b@hang.test")
	m.Arrived = t0
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both jobs started", func() bool { return h.triesOf("a@fast.test") == 1 && h.triesOf("b@hang.test") == 1 })
	// Another message's job takes fast.test's one slot and hangs there.
	m2 := msg(s, "sender@example.org", "c@fast.test")
	m2.Arrived = t0
	if err := q.Submit(ctx, m2, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "c@fast.test's job runs", func() bool { return h.triesOf("c@fast.test") == 1 })
	clk.Advance(2 * time.Minute) // a@fast.test's sibling retry falls due: its job waits behind c's
	for i := 0; i < 100 && destWaiting(q, "mx/fast.test") == 0; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("jobs waiting for fast.test's window at the stop: %d", destWaiting(q, "mx/fast.test"))
	cancel()
	q.Wait()
	stopped = true
	var got *Message
	if err := s.View(func(tx *Tx) error { var err error; got, err = tx.Get(m.ID); return err }); err != nil {
		t.Fatal(err)
	}
	rc := got.Rcpts[0]
	t.Logf("a@fast.test after the stop: status=%v reply=%q hop=%q; record state %v", rc.Status, rc.LastReply, rc.NextHop, got.State)
	if rc.LastReply != retryWaitReply || rc.NextHop == "" {
		t.Errorf("a@fast.test's host reply of this attempt lost: LastReply %q NextHop %q, want %q from mx.fast.test", rc.LastReply, rc.NextHop, retryWaitReply)
	}
}

// SPEC: a sibling retry whose timer fires at or past the
// message's expiry (the clock stepped over the retry step and the
// expiry at once) starts no delivery: the attempt's end fails the
// recipient as expired with the reply its host gave. Seen to fail
// first: the retry was planned and its job tried a@fast.test again
// after the expiry (the record of a first attempt does not bind the
// waiting job's start to the expiry: expiryBinds).
func TestQ3SiblingRetryNotStartedPastTheExpiry(t *testing.T) {
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
	waitFor(t, "a@fast.test's retry armed", func() bool {
		v, ok := q.inDelivery.Load(m.ID)
		if !ok {
			return false
		}
		a := v.(*attempt)
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.retryStop != nil
	})
	clk.Advance(2 * time.Hour) // past the retry step and the expiry at once
	for i := 0; i < 30 && h.triesOf("a@fast.test") < 2; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	open()
	waitFor(t, "the attempt's end", func() bool {
		got, _ := q.Message(m.ID)
		return got == nil || got.State != Active // failed whole: finished, maybe gone
	})
	if n := h.triesOf("a@fast.test"); n != 1 {
		t.Errorf("a@fast.test tried %d times, want 1: its sibling retry fired past the message's expiry and started a delivery", n)
	}
	if got, _ := q.Message(m.ID); got == nil {
		return
	} else if rc := got.Rcpts[0]; rc.Status != Failed || !strings.Contains(rc.LastReply, "451 4.3.0 try later") {
		t.Errorf("a@fast.test after the expiry: %v %q, want failed quoting its host's reply", rc.Status, rc.LastReply)
	}
}
