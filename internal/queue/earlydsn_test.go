package queue

import (
	"context"
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
	p.finishOriginals(t)
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
	p.dsnsDeferred(t)
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

// SR-4: the failure DSN made earlier is in delivery when the last
// recipient finishes, so it comes to carry the discard in its stored
// record only (carriedInDelivery). Its attempt is refused as too big and
// made again with the headers only (refitDSN): the DSN made again must
// carry the discard (or at least be covered), not find it written at
// once while it is still queued at hub-b, on that disk alone.
func TestSR4RefitOfInDeliveryCarrierKeepsDiscard(t *testing.T) {
	p, qS, m, sid := reportedSetupMsg(t, ManagerConfig{}, 0, func(m *Message) { m.RetFull = true }, "f@c.example", "b@c.example")
	var first ID
	for _, pm := range messages(t, p.s) {
		if pm.OwnDSN() {
			first = pm.ID
		}
	}
	if first == 0 {
		t.Fatal("no failure DSN at hub-b")
	}
	p.dsnsDeferred(t)
	release := p.gateDSNs(t)
	p.dsnTooBig.Store(true)
	p.clk.Advance(2 * time.Minute)
	p.q.Kick()
	waitFor(t, "the failure DSN in delivery", func() bool { return p.dsnIn.Load() >= 1 })
	p.bGo.Store(true)
	p.clk.Advance(2 * time.Minute)
	p.q.Kick()
	p.finishOriginals(t)
	if d, _ := p.q.Message(first); d == nil || d.ShadowServer != "hub-a" {
		t.Fatalf("the DSN in delivery: %+v; want its record carrying the discard", d)
	}
	release()
	var refit *Message
	waitFor(t, "the DSN made again with the headers only", func() bool {
		if _, err := p.q.Message(first); err == nil {
			return false
		}
		for _, x := range messages(t, p.s) {
			if x.OwnDSN() {
				refit = x
				return true
			}
		}
		return false
	})
	single := false
	_ = p.s.View(func(tx *Tx) error { single = tx.markedSingle(refit.ID); return nil })
	lines := p.fetchPartial(t, qS, "hub-b")
	if slices.Contains(lines, sid) && refit.ShadowServer == "" {
		_, err := qS.Message(m.ID)
		t.Fatalf("the full discard %q was written while the DSN made again (%s) is still queued at hub-b carrying none (marked held here only: %v; hub-a's copy: err %v)",
			lines, refit.ID, single, err)
	}
}

// SR-4: the failure DSN made earlier is in delivery when the last
// recipient finishes and comes to carry the discard in its stored record
// only; its attempt panics and is moved to the poison queue
// (putLeavingTook writes the attempt's copy, which names no copy): the
// carried discard is erased — neither written nor owed — and hub-a keeps
// the copy of a message hub-b finished, for ever.
func TestSR4PoisonedInDeliveryCarrierKeepsDiscard(t *testing.T) {
	p, qS, m, sid := reportedSetup(t, 0, "f@c.example", "b@c.example")
	var first ID
	for _, pm := range messages(t, p.s) {
		if pm.OwnDSN() {
			first = pm.ID
		}
	}
	p.dsnsDeferred(t)
	release := p.gateDSNs(t)
	p.dsnPanic.Store(true)
	p.clk.Advance(2 * time.Minute)
	p.q.Kick()
	waitFor(t, "the failure DSN in delivery", func() bool { return p.dsnIn.Load() >= 1 })
	p.bGo.Store(true)
	p.clk.Advance(2 * time.Minute)
	p.q.Kick()
	p.finishOriginals(t)
	release()
	waitFor(t, "the DSN poisoned", func() bool { d, _ := p.q.Message(first); return d != nil && d.State == Poison })
	d, _ := p.q.Message(first)
	lines := p.fetchPartial(t, qS, "hub-b")
	_, err := qS.Message(m.ID)
	if d.ShadowServer == "" && !slices.Contains(lines, sid) && err == nil {
		t.Fatalf("the poisoned DSN %s names no copy %q, no full discard written (%q), and hub-a keeps the copy of %s for ever",
			d.ID, d.ShadowServer, lines, m.ID)
	}
}

// SR-4: the sibling in copySettled (takensingle.go). A copy taken
// over here and copied again on hub-c; this server's attempt failed x@
// for good while y@ was pending, its failure DSN (reporting x@ of hub-c's
// copy, dsnreported) still queued here. The returning primary's partial
// discard settles y@, the last pending recipient: copySettled writes
// hub-c's full discard at once, while the failure DSN carrying none is
// still queued here — the very hole earlydsn.go closes for the commit of
// results.
func TestSR4CopySettledLeavesNoEarlyDSNUncovered(t *testing.T) {
	q, s, m := takenRecopied(t)
	got, err := q.Message(m.ID)
	if err != nil || got.ShadowServer != "hub-c" || got.ShadowID != m.OrgID {
		t.Fatalf("recopied: %+v, %v", got, err)
	}
	var dsn *Message
	if err := s.Update(context.Background(), func(tx *Tx) error {
		om, err := tx.Get(m.ID)
		if err != nil {
			return err
		}
		om.Rcpts[0].Status = Failed
		if err := tx.Put(om); err != nil {
			return err
		}
		dsn = &Message{ID: s.NewID(time.Now()), State: Ready, NextAttempt: time.Now().Add(time.Hour), Connector: "dsn", Internal: true,
			ReportOn: m.ID, Rcpts: []Recipient{{Addr: "a@example.org", Notify: NotifyNever}}}
		if err := tx.PutNew(dsn, []byte(body)); err != nil {
			return err
		}
		return tx.noteReported(dsn.ID, m.ID, m.OrgID, "hub-c", m.OrgID, []string{"x@b.example"})
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := q.ApplyDiscards("hub-a", []string{m.OrgID + PartialDiscardSep + "y@c.example"}); err != nil {
		t.Fatal(err)
	}
	d, err := q.Message(dsn.ID)
	if err != nil || len(d.Pending()) == 0 {
		t.Fatalf("the failure DSN: %+v, %v; want it still queued", d, err)
	}
	if lines := owed(q); slices.Contains(lines, m.OrgID) && d.ShadowServer == "" {
		t.Fatalf("hub-c is owed the full discard %q while the failure DSN %s for x@ (carrying none) is still queued here", lines, d.ID)
	}
}
