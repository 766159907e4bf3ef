package queue

import (
	"slices"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-4, Q-3: a failure DSN a job's own commit made (a@ refused beside
// b@'s hung session) for a message with a shadow copy. When b@'s
// job ends, the attempt's end makes the message done: before sched32 the
// failure DSN, made by that same end, carried the copy's discard and the
// copy covered the failure until the DSN left. The job's commit made
// the end write the full discard at once, while the failure DSN was
// still queued here (its return path defers): the holder dropped the one
// other trace of the failure before the DSN that replaces it had left.
// Now the DSN still here carries the discard (earlydsn.go).
func TestEarlyFailureDSNCarriesDiscardAtEnd(t *testing.T) {
	s := openTest(t)
	hung, inData, gate := gatedHop(t)
	h := domainHops{hopsTo(map[string]string{"refuse.test": refusingHop(t), "hang.test": hung})}
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q, ctx, _ := startGatedHops(t, s, clk, h, make(chan struct{}))
	m := msg(s, "sender@example.org", "a@refuse.test", "b@hang.test")
	m.OrgID = "0123456789abcdef0123456789abcdee"
	m.ShadowServer, m.ShadowID = "hub-a", m.OrgID
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b@'s session hung at the end of its data", func() bool { return inData.Load() == 1 })
	waitFor(t, "a@'s failure DSN while b@'s job hangs", func() bool { return dsnsIn(t, q, s)["failed"] == 1 })
	gate <- struct{}{} // b@'s next hop answers
	waitFor(t, "the attempt's end", func() bool { got, _ := q.Message(m.ID); return got == nil })
	var fdsn *Message
	for _, x := range messages(t, s) {
		if x.Connector == "dsn" {
			fdsn = x
		}
	}
	if fdsn == nil || fdsn.Rcpts[0].Status != Pending {
		t.Fatalf("the failure DSN: %+v; want it still queued (its return path defers)", fdsn)
	}
	ids, _ := q.Discards("hub-a", 10)
	if len(ids) > 0 && fdsn.ShadowServer == "" {
		t.Fatalf("the copy's full discard %v is written while the failure DSN %s (carrying none) is still queued here", ids, fdsn.ID)
	}
}

// SR-4: the same failure made by the attempt's end (no hung sibling)
// carries the discard.
func TestEndFailureDSNCarriesDiscard(t *testing.T) {
	s := openTest(t)
	h := domainHops{hopsTo(map[string]string{"refuse.test": refusingHop(t), "fast.test": healthyHop(t)})}
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q, ctx, _ := startGatedHops(t, s, clk, h, make(chan struct{}))
	m := msg(s, "sender@example.org", "a@refuse.test")
	m.OrgID = "0123456789abcdef0123456789abcdee"
	m.ShadowServer, m.ShadowID = "hub-a", m.OrgID
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the attempt's end", func() bool { got, _ := q.Message(m.ID); return got == nil })
	var fdsn *Message
	for _, x := range messages(t, s) {
		if x.Connector == "dsn" {
			fdsn = x
		}
	}
	ids, _ := q.Discards("hub-a", 10)
	if fdsn == nil || len(ids) > 0 || fdsn.ShadowServer != "hub-a" {
		t.Fatalf("DSN %+v, discards %v; want the DSN carrying the discard", fdsn, ids)
	}
}

// SR-4, SR-6: the older case of the same. The primary's first attempt
// fails f@ for good while b@ defers: its failure DSN, made while b@ was
// pending, carries no discard. The next attempt relays b@ while the DSN
// still waits at the primary: the DSN carries the copy's full discard
// now, and the shadow server keeps the copy (f@ in it) until the DSN has
// left — a kill -9 for good of the primary before then loses neither the
// failure nor its report.
func TestEarlierFailureDSNCarriesDiscardAtEnd(t *testing.T) {
	p, qS, m, sid := reportedSetup(t, 0, "f@c.example", "b@c.example")
	if n := p.dsnsAt(t); n != 1 {
		t.Fatalf("hub-b holds %d DSNs, want the failure DSN for f@", n)
	}
	p.bGo.Store(true)
	p.clk.Advance(2 * time.Minute)
	p.q.Kick()
	waitFor(t, "hub-b to finish the original", func() bool {
		for _, x := range messages(t, p.s) {
			if !x.OwnDSN() {
				return false
			}
		}
		return true
	})
	var dsn *Message
	for _, x := range messages(t, p.s) {
		dsn = x
	}
	if dsn == nil || dsn.ShadowServer != "hub-a" || dsn.ShadowID != sid {
		t.Fatalf("the failure DSN waiting at hub-b: %+v; want it carrying the copy's discard (hub-a, %s)", dsn, sid)
	}
	if lines := p.fetchPartial(t, qS, "hub-b"); slices.Contains(lines, sid) {
		t.Fatalf("notifications while the DSN waits at hub-b: %q; want no full discard", lines)
	}
	if st := rcptStatuses(t, qS, m.ID); st[0] != Shadowed {
		t.Fatalf("copy while the DSN waits: %v; want f@ still shadowed", st)
	}
	p.dsnGo.Store(true)
	p.clk.Advance(2 * time.Minute)
	p.q.Kick()
	waitFor(t, "the DSN to leave hub-b", func() bool { return p.dsnsAt(t) == 0 })
	if lines := p.fetchPartial(t, qS, "hub-b"); !slices.Equal(lines, []string{sid}) {
		t.Fatalf("notifications after the DSN left: %q, want the full discard", lines)
	}
	if _, err := qS.Message(m.ID); err == nil {
		t.Fatal("the full discard left the copy")
	}
}
