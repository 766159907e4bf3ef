package queue

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/clock"
)

// tarpitHop never greets: each attempt of h@tarpit.example waits until
// the message's expiry cuts it (ExpiredUnsentReply, as delivery answers)
// or the attempt's end (a stop); the DSNs it is given are kept.
type tarpitHop struct {
	*slotWait
	started atomic.Int32
}

func (o *tarpitHop) Deliver(ctx context.Context, m *Message, body []byte, rcpts []int) []Result {
	if !strings.HasSuffix(m.Rcpts[rcpts[0]].Addr, "@tarpit.example") {
		return o.slotWait.Deliver(ctx, m, body, rcpts)
	}
	o.started.Add(1)
	reply := ExpiredUnsentReply
	select {
	case <-ExpiryReached(ctx):
	case <-ctx.Done():
		reply = "451 4.4.2 greeting from tarpit[192.0.2.9]: operation was canceled"
	}
	out := make([]Result, len(rcpts))
	for k, i := range rcpts {
		out[k] = Result{Rcpt: i, Outcome: Deferred, Queue: "smarthost:tarpit", Reply: reply}
	}
	return out
}

// Q-3 (DSN): the reason a message fails with at its expiry is its
// current attempt's, never a note left from before a restart. A message
// whose attempt a shutdown cut (the stop's note) and whose attempt after
// the restart waits on a host that never greets until the expiry cuts
// it fails saying the expiry ended its attempt before the message was
// sent — not "its last attempt was interrupted by a shutdown of this
// server", which was no longer true (tarpit, SIGTERM and restart).
func TestQ3ExpiryAfterRestartReportsTheCurrentAttempt(t *testing.T) {
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	cfg := ManagerConfig{MaxActive: 100, Clock: clk, Hostname: "mx.test",
		RetrySchedule: []time.Duration{20 * time.Second}, MessageExpiration: 4 * time.Minute}
	o1 := &tarpitHop{slotWait: newSlotWait()}
	q1 := NewManager(s, o1, cfg)
	ctx1, cancel1 := context.WithCancel(context.Background())
	q1.Start(ctx1)
	m := msg(s, "a@example.org", "h@tarpit.example")
	m.Arrived = t0
	m.Rcpts[0].Notify = NotifyFailure
	if err := q1.Submit(ctx1, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first attempt, hanging", func() bool { return o1.started.Load() == 1 })
	clk.Advance(5 * time.Second)
	cancel1() // SIGTERM: the stop cuts the attempt
	q1.Wait()
	if got := messages(t, s)[0].Rcpts[0].LastReply; !isStopReply(got) {
		t.Fatalf("after the stop the recipient's reply is %q, want the stop's note", got)
	}

	o := &tarpitHop{slotWait: newSlotWait()}
	q := NewManager(s, o, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	waitFor(t, "the attempt after the restart, hanging", func() bool { return o.started.Load() == 1 })
	clk.Advance(4 * time.Minute) // the expiry cuts it
	q.Kick()
	waitFor(t, "the failure DSN", func() bool { return len(o.dsnsAbout("h@tarpit.example", "failed")) == 1 })
	dsn := o.dsnsAbout("h@tarpit.example", "failed")[0]
	if strings.Contains(dsn, "shutdown") {
		t.Errorf("the failure DSN quotes the stop's note from before the restart:\n%s", dsn)
	}
	if !strings.Contains(dsn, "the expiry ended its attempt") && !strings.Contains(dsn, "had replied by the expiry") {
		t.Errorf("the failure DSN does not say the expiry cut its attempt:\n%s", dsn)
	}
}

// Q-3 (DSN): the delay notice made while the attempt after a restart
// waits on a host that never greets says its attempt is under way — not
// the stop's note (or a busy destination's) left from before the
// restart.
func TestQ3DelayNoticeAfterRestartReportsTheCurrentAttempt(t *testing.T) {
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	cfg := ManagerConfig{MaxActive: 100, Clock: clk, Hostname: "mx.test",
		RetrySchedule: []time.Duration{20 * time.Second}, MessageExpiration: 4 * time.Minute, DelayNotification: time.Minute}
	o1 := &tarpitHop{slotWait: newSlotWait()}
	q1 := NewManager(s, o1, cfg)
	ctx1, cancel1 := context.WithCancel(context.Background())
	q1.Start(ctx1)
	m := msg(s, "a@example.org", "h@tarpit.example")
	m.Arrived = t0
	m.Rcpts[0].Notify = NotifyDelay | NotifyFailure
	if err := q1.Submit(ctx1, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first attempt, hanging", func() bool { return o1.started.Load() == 1 })
	clk.Advance(5 * time.Second)
	cancel1()
	q1.Wait()

	o := &tarpitHop{slotWait: newSlotWait()}
	q := NewManager(s, o, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	waitFor(t, "the attempt after the restart, hanging", func() bool { return o.started.Load() == 1 })
	for i := 0; i < 40 && len(o.dsnsAbout("h@tarpit.example", "delayed")) == 0; i++ {
		clk.Advance(5 * time.Second)
		q.Kick()
		time.Sleep(20 * time.Millisecond)
	}
	ds := o.dsnsAbout("h@tarpit.example", "delayed")
	if len(ds) == 0 {
		t.Fatal("no delay DSN")
	}
	if strings.Contains(ds[0], "shutdown") || strings.Contains(ds[0], "delivery slot") {
		t.Errorf("the delay DSN quotes a note from before the restart:\n%s", ds[0])
	}
	if !strings.Contains(ds[0], "under way") {
		t.Errorf("the delay DSN does not say its attempt is under way:\n%s", ds[0])
	}
}
