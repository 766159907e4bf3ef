package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// outOfStepDeliverer is doorDeliverer's plan with a next hop that
// answers MAIL out of step for every message (delivery's out-of-step
// rule: "451 4.4.2 HOP: out of step at MAIL: 503 5.5.1 …").
type outOfStepDeliverer struct{ *doorDeliverer }

func (g outOfStepDeliverer) Deliver(_ context.Context, m *Message, _ []byte, rcpts []int) []Result {
	d := domainOf(m.Rcpts[rcpts[0]].Addr)
	host := "mx." + d + "[192.0.2.1]:25"
	out := make([]Result, len(rcpts))
	for k, i := range rcpts {
		out[k] = Result{Rcpt: i, Outcome: Deferred, Queue: "mx:" + d, NextHop: host,
			Reply: OutOfStepReply(host, "MAIL", "503 5.5.1 Error: nested MAIL command")}
	}
	return out
}

// Q-6 (rrdeliv44): a next hop that answers out of step (503, 500, 502
// to MAIL, RCPT or DATA: delivery's out-of-step rule) answered — it is
// reachable, its session in step again on the next connection — so its
// deferral is no failure of the destination: it neither shrinks the
// window nor moves the destination toward dead (one such answer with a
// window of one would make a healthy destination dead, its other mail
// held a cool-down for one confused session). umbra's words on a session
// that broke (SessionBroke) still count against it.
func TestQ6OutOfStepAnswerIsNoDestinationFailure(t *testing.T) {
	const hop = "mx.x.test[192.0.2.1]:25"
	for _, tc := range []struct {
		name string
		res  Result
		want int
	}{
		{"out of step at MAIL", Result{Outcome: Deferred, NextHop: hop, Reply: OutOfStepReply(hop, "MAIL", "503 5.5.1 Error: nested MAIL command")}, +1},
		{"out of step at RCPT", Result{Outcome: Deferred, NextHop: hop, Reply: OutOfStepReply(hop, "RCPT", "503 5.5.1 Error: need MAIL command")}, +1},
		{"out of step at DATA", Result{Outcome: Deferred, NextHop: hop, Reply: OutOfStepReply(hop, "DATA", "500 command not recognized")}, +1},
		{"the session broke", Result{Outcome: Deferred, NextHop: hop, Reply: SessionFailedReply(hop, "reply to MAIL: read tcp 192.0.2.1:25: i/o timeout")}, -1},
	} {
		if got := feedback([]Result{tc.res}); got != tc.want {
			t.Errorf("%s: feedback %d, want %d", tc.name, got, tc.want)
		}
	}

	// Through the scheduler: a destination of window one whose host
	// answers every MAIL out of step is not dead after its answers.
	s := openTest(t)
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	g := outOfStepDeliverer{newDoorDeliverer()}
	q := NewManager(s, g, ManagerConfig{MaxActive: 10, Clock: clk, Events: nopEvents{},
		RetrySchedule: []time.Duration{10 * time.Minute, time.Hour},
		Scheduler:     SchedulerConfig{InitialWindow: 1, DeadCoolDown: time.Minute, ThrottleRecheck: 10 * time.Second}})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); q.Wait() })
	q.Start(ctx)
	for _, r := range []string{"a@x.test", "b@x.test"} {
		m := submitAt(t, q, s, clk, ctx, r)
		settledReady(t, q, m.ID, r+" deferred out of step", func(got *Message) bool { return got.Attempts == 1 })
	}
	for _, di := range q.Destinations() {
		if di.Name == "mx/x.test" && (di.State == "dead" || di.Failures > 0) {
			t.Errorf("mx/x.test after out-of-step answers: state %q, failures %d, last error %q; want answered, not failing", di.State, di.Failures, di.LastError)
		}
	}
}
