package queue

import (
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SPEC: a sibling retry queued before the expiry, whose job
// still waits for its destination's slot when the expiry passes, starts
// no delivery (the firing's expiredBy is not looked at again at the
// job's start: runJob's expiredNow does not bind a first attempt).
func TestQ3SiblingRetryWaitingPastTheExpiryNotStarted(t *testing.T) {
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	h := &retryWaitHops{tries: map[string]int{}, gate: make(chan struct{})}
	q, ctx, open := startGatedHops(t, s, clk, h, h.gate)
	m := msg(s, "sender@example.org", "a@fast.test", "b@hang.test")
	m.Arrived = t0
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both jobs started", func() bool { return h.triesOf("a@fast.test") == 1 && h.triesOf("b@hang.test") == 1 })
	m2 := msg(s, "sender@example.org", "c@fast.test")
	m2.Arrived = t0
	if err := q.Submit(ctx, m2, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "c@fast.test's job runs", func() bool { return h.triesOf("c@fast.test") == 1 })
	clk.Advance(2 * time.Minute) // a's retry falls due before the expiry: its job waits behind c's
	waitFor(t, "a's retry waits for fast.test's slot", func() bool { return destWaiting(q, "mx/fast.test") > 0 })
	clk.Advance(2 * time.Hour) // the expiry passes while it waits
	time.Sleep(100 * time.Millisecond)
	open() // c's and b's jobs end: fast.test's slot is free
	waitFor(t, "the attempt's end", func() bool {
		got, _ := q.Message(m.ID)
		return got == nil || got.State != Active
	})
	if n := h.triesOf("a@fast.test"); n != 1 {
		t.Errorf("a@fast.test tried %d times, want 1: its sibling retry started a delivery past the message's expiry", n)
	}
	if got, _ := q.Message(m.ID); got != nil {
		rc := got.Rcpts[0]
		t.Logf("a@fast.test at the end: %v %q %q", rc.Status, rc.LastReply, rc.NextHop)
		if rc.Status != Failed || !strings.Contains(rc.LastReply, retryWaitReply) {
			t.Errorf("a@fast.test after the expiry: %v %q, want failed quoting its host's reply", rc.Status, rc.LastReply)
		}
	}
}
