package queue

import (
	"slices"
	"testing"
	"time"
)

// Q-6 (rt33 F2, F3): the tracking `defer` line of a recipient the dead
// mark answered says what message show says of it — the mark carrying
// the recipient's own last real reply, `451 4.4.1 destination KEY is
// dead (no connection until its cool-down ends); last error: REPLY`, or
// the bare mark for one no host has replied to yet — and it is written
// when the recipient first finds its destination dead, or again after
// an attempt of its own, never at each cool-down.
func TestQ6DeadWaitDeferLineCarriesTheLastReply(t *testing.T) {
	log := &replyLog{}
	q, s, clk, g, ctx := deadRig(t, 100, log)
	// t@x.test's own attempt: the host defers it (an answer: no death).
	closed := make(chan struct{})
	close(closed)
	g.mu.Lock()
	g.gate["x.test"] = closed
	g.mu.Unlock()
	tm := submitAt(t, q, s, clk, ctx, "t@x.test")
	got := settledReady(t, q, tm.ID, "t's own attempt deferred by the host", func(got *Message) bool { return got.Attempts == 1 })
	g.mu.Lock()
	delete(g.gate, "x.test")
	g.mu.Unlock()
	host := "451 4.3.0 mx.x.test[192.0.2.1]:25: try again later"
	// X dies by other messages' failures, just before t's retry step
	// (the host's answer opened its window to 2: two failures).
	retry := got.NextAttempt
	clk.Advance(retry.Add(-5 * time.Second).Sub(clk.Now()))
	g.setRefuse("x.test", true)
	k1 := submitAt(t, q, s, clk, ctx, "k1@x.test")
	settledReady(t, q, k1.ID, "the first refusal", func(got *Message) bool { return got.Attempts == 1 })
	_, end := kill(t, q, s, clk, g, ctx, "x.test")
	if !retry.Before(end) {
		t.Fatalf("t's retry %v is not inside the cool-down ending %v", retry, end)
	}
	// Held by the cool-down too, older than o: each cool-down's probe
	// is the oldest message it held, so o is probed by none of the two
	// below (p1, p2 are).
	for _, r := range []string{"p1@x.test", "p2@x.test"} {
		p := submitAt(t, q, s, clk, ctx, r)
		settledReady(t, q, p.ID, r+" answered by the dead mark", func(got *Message) bool { return isDeadReply(got.Rcpts[0].LastReply) })
		clk.Advance(time.Second)
	}
	o := submitAt(t, q, s, clk, ctx, "o@x.test") // no host has replied to it
	settledReady(t, q, o.ID, "o answered by the dead mark", func(got *Message) bool { return isDeadReply(got.Rcpts[0].LastReply) })
	clk.Advance(retry.Sub(clk.Now()))
	q.Kick()
	settledReady(t, q, tm.ID, "t answered by the dead mark at its retry step", func(got *Message) bool { return isDeadReply(got.Rcpts[0].LastReply) })
	wantT := []string{host, deadReply("mx/x.test", host)}
	if lines := log.of("t@x.test"); !slices.Equal(lines, wantT) {
		t.Errorf("t's defer lines %q, want %q", lines, wantT)
	}
	// Two cool-downs end with X still refusing: each probe fails (an
	// attempt of the probe's own, tracked), o waits on the mark again
	// untracked.
	for range 2 {
		probes := len(g.delivered("x.test"))
		clk.Advance(end.Sub(clk.Now()))
		q.Kick()
		waitFor(t, "the probe of the cool-down's end", func() bool { return len(g.delivered("x.test")) > probes })
		settledReady(t, q, o.ID, "o waiting on the dead mark again", func(got *Message) bool {
			return isDeadReply(got.Rcpts[0].LastReply) && got.NextAttempt.After(end)
		})
		for _, di := range q.Destinations() {
			if di.Name == "mx/x.test" {
				end = di.DeadUntil
			}
		}
	}
	if slices.Contains(g.delivered("x.test"), "o@x.test") {
		t.Fatalf("o was a probe (%q): the test needs it probed by none", g.delivered("x.test"))
	}
	if lines, want := log.of("o@x.test"), []string{deadReply("mx/x.test", "")}; !slices.Equal(lines, want) {
		t.Errorf("o's defer lines %q, want %q: once, the bare mark", lines, want)
	}
}
