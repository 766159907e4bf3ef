package queue

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// hangWait: x.example and y.example have a window of 1 (slotWait.Plan).
// m1's job to x.example hangs until gate; m2's job to y.example hangs
// until its expiry cuts it (ExpiryReached) — its delay notice is made
// beside it (noticecommit.go).
type hangWait struct {
	*slotWait
	m1, m2 ID
	late   int // m2's w@x.example jobs handed a context already past its expiry
}

func (o *hangWait) Deliver(ctx context.Context, m *Message, body []byte, rcpts []int) []Result {
	if m.ID == o.m1 {
		<-o.gate
	}
	if m.ID == o.m2 {
		if _, dom, _ := strings.Cut(m.Rcpts[rcpts[0]].Addr, "@"); dom == "y.example" {
			select {
			case <-ExpiryReached(ctx):
				out := make([]Result, len(rcpts))
				for k, i := range rcpts {
					out[k] = Result{Rcpt: i, Outcome: Deferred, Queue: "mx:y.example", Reply: ExpiredUnsentReply}
				}
				return out
			case <-ctx.Done():
				return nil
			}
		}
		if PastExpiry(ctx) {
			o.mu.Lock()
			o.late++
			o.mu.Unlock()
		}
	}
	return o.slotWait.Deliver(ctx, m, body, rcpts)
}

// Q-3 (final reread of the schedfix25/hungnotice25 merge, F3): a never-tried message whose delay notice was committed
// beside its hung job (noticecommit.go) is bound by its expiry in the
// cut (withExpiry asks a.noticed) but not in the waiting scan
// (waitDueOf) nor at a waiting job's start (expiredNow): both read
// a.m.DelayNotified, which only the attempt's end sets. Its job waiting
// for a busy destination's window is not answered at the expiry the
// notice promised (Will-Retry-Until): its recipient stays pending until
// the window frees, then its job takes the slot to be born cut.
func TestNoticedMidAttemptWaitingJobAnsweredAtExpiry(t *testing.T) {
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	o := &hangWait{slotWait: newSlotWait()}
	q := NewManager(s, o, ManagerConfig{MaxActive: 100, Clock: clk, Hostname: "mx.test",
		RetrySchedule: []time.Duration{time.Hour}, MessageExpiration: 5 * time.Minute, DelayNotification: 10 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	var open sync.Once
	release := func() { open.Do(func() { close(o.gate) }) }
	defer func() { release(); cancel(); q.Wait() }()
	q.Start(ctx)

	m1 := msg(s, "a@example.org", "first@x.example")
	m1.Arrived = t0
	m2 := msg(s, "a@example.org", "h@y.example", "w@x.example")
	m2.Arrived = t0
	for i := range m2.Rcpts {
		m2.Rcpts[i].Notify = NotifyFailure | NotifyDelay
	}
	o.m1, o.m2 = m1.ID, m2.ID
	if err := q.Submit(ctx, m1, []byte(body)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if err := q.Submit(ctx, m2, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "m2's w@ waiting behind m1", func() bool { return jobWaiting(q, m2.ID) })
	time.Sleep(100 * time.Millisecond)
	clk.Advance(10*time.Second + noticeGrace) // the notice beside m2's hung y.example job
	waitFor(t, "m2's delay DSN", func() bool { return len(o.dsnsAbout("w@x.example", "delayed")) == 1 })
	clk.Advance(5 * time.Minute) // past the expiry the notice promised
	q.Kick()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) && len(o.dsnsAbout("w@x.example", "failed")) == 0 {
		q.Kick()
		time.Sleep(50 * time.Millisecond)
	}
	if len(o.dsnsAbout("w@x.example", "failed")) == 0 {
		t.Errorf("w@x.example still pending past the expiry its delay DSN promised (waiting for m1's slot: %v)", jobWaiting(q, m2.ID))
	}
	release()
	waitFor(t, "m2 settled", func() bool {
		got, _ := q.Message(m2.ID)
		return got == nil
	})
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.late > 0 {
		t.Errorf("w@x.example's waiting job started past the expiry after the notice (%d), handed a context already cut", o.late)
	}
}

func jobWaiting(q *Manager, id ID) bool {
	s := q.sched
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.dests {
		for _, jb := range d.waiting {
			if jb.a.m.ID == id {
				return true
			}
		}
	}
	return false
}
