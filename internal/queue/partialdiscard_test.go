package queue

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// partialSetup: the shadow server hub-a (its own bbolt file at path)
// relays a@ and b@ of one message to the primary hub-b in one shadow
// transaction; hub-b relays a@ at once and defers b@. It returns once
// hub-a holds the copy and hub-b has committed its results (a@ done).
func partialSetup(t *testing.T) (p *copyPrimary, qS *Manager, sS *Store, path string, m *Message, stop func()) {
	p, qS, sS, path, m, stopS, stopP := partialSetup2(t)
	return p, qS, sS, path, m, func() { stopS(); stopP() }
}

func partialSetup2(t *testing.T) (p *copyPrimary, qS *Manager, sS *Store, path string, m *Message, stopS, stopP func()) {
	t.Helper()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	path = filepath.Join(t.TempDir(), "queue.db")
	sS, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	p = newCopyPrimary(t, clk)
	ctx, cancel := context.WithCancel(context.Background())
	p.q.Start(ctx)
	ctxS, cancelS := context.WithCancel(ctx)
	dS := DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		return p.relay(t, ctx, m, rcpts, "hub-b")
	})
	qS = NewManager(sS, dS, ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Minute}})
	qS.Start(ctxS)
	m = msg(sS, "s@example.org", "a@c.example", "b@c.example")
	m.Arrived = clk.Now()
	if err := qS.Submit(ctxS, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "hub-a's copy", func() bool {
		got, err := qS.Message(m.ID)
		return err == nil && got.State == Shadow
	})
	waitFor(t, "hub-b's results: a@ relayed, b@ deferred", func() bool {
		return !p.pendingAt(t, "a@c.example") && p.pendingAt(t, "b@c.example")
	})
	return p, qS, sS, path, m, func() { cancelS(); qS.Wait() }, func() { cancel(); p.q.Wait() }
}

// fetchPartial is a version-9 session's query: full and partial
// notifications, saved as a contact, then acknowledged.
func (p *copyPrimary) fetchPartial(t *testing.T, q *Manager, primary string) []string {
	lines, ack := p.q.DiscardsPartial("hub-a", 100)
	if _, err := q.ShadowContact(primary, "db-b", lines); err != nil {
		t.Error(err)
	}
	ack()
	return lines
}

func rcptStatuses(t *testing.T, q *Manager, id ID) []RcptStatus {
	t.Helper()
	got, err := q.Message(id)
	if err != nil {
		t.Fatalf("the copy is gone: %v", err)
	}
	var out []RcptStatus
	for _, r := range got.Rcpts {
		out = append(out, r.Status)
	}
	return out
}

// The primary's results commit that finishes a@ while b@ waits writes a
// partial discard naming the copy's id and a@; hub-a marks a@ done and
// keeps the copy, so a takeover now routes b@ alone; the full discard
// later ends the copy.
func TestPartialDiscardSettlesFinishedRecipients(t *testing.T) {
	p, qS, _, _, m, stopS, stopP := partialSetup2(t)
	defer stopP()
	stopS() // no attempt here: the takeover's result is read as committed
	got, _ := qS.Message(m.ID)
	sid := got.Rcpts[0].ShadowID
	lines := p.fetchPartial(t, qS, "hub-b")
	if want := []string{sid + " RCPT=a@c.example"}; !slices.Equal(lines, want) {
		t.Fatalf("notifications %q, want %q", lines, want)
	}
	if st := rcptStatuses(t, qS, m.ID); st[0] != Relayed || st[1] != Shadowed {
		t.Fatalf("after the partial discard: %v, want a@ relayed, b@ shadowed", st)
	}
	if again, _ := p.q.DiscardsPartial("hub-a", 100); len(again) != 0 {
		t.Fatalf("acknowledged notifications sent again: %q", again)
	}
	if _, err := qS.Takeover("hub-b", "test"); err != nil {
		t.Fatal(err)
	}
	got, _ = qS.Message(m.ID)
	if pend := got.Pending(); len(pend) != 1 || got.Rcpts[pend[0]].Addr != "b@c.example" {
		t.Fatalf("taken over: pending %v of %+v, want b@ alone", pend, got.Rcpts)
	}
	// rt22a L2: every view says what is true of a@: finished by the
	// primary (its partial discard), not relayed by this server.
	if st, reply := qS.StateView().RecipientStatus(got, 0), got.Rcpts[0].LastReply; st != "done by primary" || !strings.Contains(reply, "hub-b") {
		t.Fatalf("a@ after the takeover: %q, %q; want done by primary, naming hub-b", st, reply)
	}
}

// An older shadow server (version 8: Discards, no PARTIAL) gets nothing
// new: the copy keeps both recipients until the full discard, which
// supersedes the partial one at the primary.
func TestPartialDiscardNotSentToOlderPeer(t *testing.T) {
	p, qS, _, _, m, stop := partialSetup(t)
	defer stop()
	if ids := p.fetch(t, qS); len(ids) != 0 {
		t.Fatalf("a version-8 query got %q", ids)
	}
	if st := rcptStatuses(t, qS, m.ID); st[0] != Shadowed || st[1] != Shadowed {
		t.Fatalf("copy at an older peer: %v, want both shadowed", st)
	}
	p.allGo.Store(true)
	p.clk.Advance(2 * time.Minute) // b@'s retry
	p.q.Kick()
	waitFor(t, "hub-b's full discard", func() bool {
		ids, _ := p.q.Discards("hub-a", 10)
		return len(ids) == 1
	})
	var left []PartialDiscard
	_ = p.s.View(func(tx *Tx) error { left = tx.PartialDiscards("hub-a", 10); return nil })
	if len(left) != 0 {
		t.Fatalf("partial discards left beside the full one: %v", left)
	}
	p.fetch(t, qS)
	if _, err := qS.Message(m.ID); err == nil {
		t.Fatal("the full discard left the copy")
	}
}

// A partial discard from a server that is not the copy's primary, or for
// a copy this server does not hold, changes nothing (as a full discard).
func TestPartialDiscardFromWrongServerIgnored(t *testing.T) {
	p, qS, _, _, m, stop := partialSetup(t)
	defer stop()
	got, _ := qS.Message(m.ID)
	sid := got.Rcpts[0].ShadowID
	lines, _ := p.q.DiscardsPartial("hub-a", 100)
	if len(lines) != 1 {
		t.Fatalf("notifications %q", lines)
	}
	if _, err := qS.ShadowContact("hub-x", "db-x", lines); err != nil {
		t.Fatal(err)
	}
	other := (m.ID + 1000).String() + "-00000000-000000000000 RCPT=b@c.example"
	if _, err := qS.ShadowContact("hub-b", "db-b", []string{other, sid + "-x RCPT=b@c.example", sid + " RCPT=z@c.example"}); err != nil {
		t.Fatal(err)
	}
	if st := rcptStatuses(t, qS, m.ID); st[0] != Shadowed || st[1] != Shadowed {
		t.Fatalf("after foreign partial discards: %v, want both shadowed", st)
	}
}

// The shadow server restarts between the partial and the full discard:
// the partial one was committed with the contact, so a@ stays done, a
// takeover after the restart routes b@ alone, and the full discard ends
// the copy.
func TestPartialDiscardSurvivesShadowRestart(t *testing.T) {
	p, qS, sS, path, m, stopS, stopP := partialSetup2(t)
	defer stopP()
	p.fetchPartial(t, qS, "hub-b")
	stopS()
	sS.Close()
	s2, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	q2 := NewManager(s2, DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result { return nil }),
		ManagerConfig{Clock: p.clk, RetrySchedule: []time.Duration{time.Minute}})
	if _, _, err := q2.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := rcptStatuses(t, q2, m.ID); st[0] != Relayed || st[1] != Shadowed {
		t.Fatalf("after the restart: %v, want a@ relayed, b@ shadowed", st)
	}
	// The full discard: the primary finishes b@.
	p.allGo.Store(true)
	p.clk.Advance(2 * time.Minute) // b@'s retry
	p.q.Kick()
	waitFor(t, "hub-b's full discard", func() bool {
		ids, _ := p.q.Discards("hub-a", 10)
		return len(ids) == 1
	})
	p.fetchPartial(t, q2, "hub-b")
	if _, err := q2.Message(m.ID); err == nil {
		t.Fatal("the full discard left the copy")
	}
}

// A partial discard that arrives after this server took the copy over:
// a recipient still pending here is settled (the primary finished it; a
// send now would be a duplicate), one already handed on stays as it is,
// and nothing is sent twice.
func TestPartialDiscardAfterTakeover(t *testing.T) {
	p, qS, _, _, m, stopS, stopP := partialSetup2(t)
	defer stopP()
	stopS() // no attempt here: the takeover's result is read as committed
	lines, ack := p.q.DiscardsPartial("hub-a", 100)
	if _, err := qS.Takeover("hub-b", "test"); err != nil {
		t.Fatal(err)
	}
	got, _ := qS.Message(m.ID)
	if len(got.Pending()) != 2 {
		t.Fatalf("taken over: %+v", got.Rcpts)
	}
	if _, err := qS.ShadowContact("hub-b", "db-b", lines); err != nil {
		t.Fatal(err)
	}
	ack()
	got, _ = qS.Message(m.ID)
	if pend := got.Pending(); len(pend) != 1 || got.Rcpts[pend[0]].Addr != "b@c.example" || got.Rcpts[0].Status != Relayed {
		t.Fatalf("after the partial discard: pending %v of %+v, want b@ alone", pend, got.Rcpts)
	}
}

// Another record at the primary under the same copy id with the address
// still pending keeps it out of the partial discard: the last record to
// finish it names it.
func TestPartialDiscardSparesSiblingPending(t *testing.T) {
	s := openTest(t)
	mk := func(st RcptStatus) *Message {
		m := msg(s, "s@example.org", "a@c.example", "b@c.example")
		m.State, m.OrgID, m.ShadowServer, m.ShadowID = Ready, "org-1@example.org", "hub-a", "copy-1"
		m.Rcpts[0].Status = st
		return m
	}
	self, sib := mk(Relayed), mk(Pending)
	err := s.Update(context.Background(), func(tx *Tx) error {
		for _, m := range []*Message{self, sib} {
			if err := tx.PutNew(m, []byte(body)); err != nil {
				return err
			}
		}
		addrs, err := tx.finishedForCopy(self, []RcptStatus{Pending, Pending}, nil, nil)
		if err != nil {
			return err
		}
		if len(addrs) != 0 {
			t.Errorf("a@ pending in a sibling record was named: %q", addrs)
		}
		sib.Rcpts[0].Status = Relayed
		if err := tx.Put(sib); err != nil {
			return err
		}
		if addrs, _ = tx.finishedForCopy(self, []RcptStatus{Pending, Pending}, nil, nil); !slices.Equal(addrs, []string{"a@c.example"}) {
			t.Errorf("with no sibling pending: %q, want a@", addrs)
		}
		if addrs, _ = tx.finishedForCopy(self, []RcptStatus{Pending, Pending}, map[int]Outcome{0: Expanded}, nil); len(addrs) != 0 {
			t.Errorf("an expanded group named: %q", addrs)
		}
		if addrs, _ = tx.finishedForCopy(self, []RcptStatus{Pending, Pending}, nil, map[int]bool{0: true}); len(addrs) != 0 {
			t.Errorf("a recipient a DSN of this commit reports named: %q", addrs)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestPartialDiscardWireForm(t *testing.T) {
	for _, addr := range []string{"a@c.example", "\"a b+c=d\"@c.example", "ü@c.example"} {
		pd := PartialDiscard{"0123456789abcdef-01234567-0123456789ab", addr}
		back, ok := ParsePartialDiscard(pd.Wire())
		if !ok || back != pd {
			t.Errorf("%q: read back as %q %v", pd.Wire(), back, ok)
		}
	}
	for _, bad := range []string{"id", "id RCPT=", " RCPT=a@b", "id RCPT=a+4", "id RCPT=a+zz", "a b RCPT=x", "id RCPT=a b", "id RCPT=a+00b"} {
		if pd, ok := ParsePartialDiscard(bad); ok {
			t.Errorf("%q read as %+v", bad, pd)
		}
	}
}

func FuzzParsePartialDiscard(f *testing.F) {
	f.Add("0123456789abcdef-01234567-0123456789ab RCPT=a@c.example")
	f.Add("x RCPT=+41")
	f.Fuzz(func(t *testing.T, s string) {
		pd, ok := ParsePartialDiscard(s)
		if !ok {
			return
		}
		back, ok := ParsePartialDiscard(pd.Wire())
		if !ok || back != pd {
			t.Fatalf("%q: %+v does not read back (%+v %v)", s, pd, back, ok)
		}
	})
}

// A partial discard for a copy in delivery here is kept aside (bucket
// early) and applied by the commit that ends the attempt, to the
// recipient it names only.
func TestPartialDiscardKeptAsideWhileInDelivery(t *testing.T) {
	p, qS, sS, _, m, stopS, stopP := partialSetup2(t)
	defer stopP()
	stopS()
	err := sS.Update(context.Background(), func(tx *Tx) error {
		got, err := tx.Get(m.ID)
		if err != nil {
			return err
		}
		got.State = Active
		return tx.Put(got)
	})
	if err != nil {
		t.Fatal(err)
	}
	lines := p.fetchPartial(t, qS, "hub-b")
	if len(lines) != 1 {
		t.Fatalf("notifications %q", lines)
	}
	if st := rcptStatuses(t, qS, m.ID); st[0] != Shadowed || st[1] != Shadowed {
		t.Fatalf("a record in delivery was rewritten: %v", st)
	}
	err = sS.Update(context.Background(), func(tx *Tx) error {
		got, err := tx.Get(m.ID)
		if err != nil {
			return err
		}
		if _, err := applyEarlyDiscards(tx, got, nil); err != nil {
			return err
		}
		if got.Rcpts[0].Status != Relayed || got.Rcpts[1].Status != Shadowed {
			t.Errorf("the attempt's commit applied %v %v, want a@ relayed, b@ shadowed", got.Rcpts[0].Status, got.Rcpts[1].Status)
		}
		if again, _ := tx.TakeEarlyDiscard("hub-b", earlyPartialID(got.Rcpts[0].ShadowID, "a@c.example")); again {
			t.Error("the early partial discard was applied and kept")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// xtext's hex digits are upper case when umbra writes them (RFC 3461
// §4) and taken in either case on input, as the receive side takes an
// ORCPT's: a peer writing "+2b" names the same recipient.
func TestParsePartialDiscardLowerCaseHex(t *testing.T) {
	pd, ok := ParsePartialDiscard("abc RCPT=a+2bb+3dc@x.test")
	if !ok || pd.Addr != "a+b=c@x.test" {
		t.Fatalf("%+v %v", pd, ok)
	}
	if w := (PartialDiscard{"abc", "a+b=c@x.test"}).Wire(); w != "abc RCPT=a+2Bb+3Dc@x.test" {
		t.Errorf("wire %q", w)
	}
}

// SR-4, OPS-3, OPS-4 (rt34 O1): the holder learns from a partial
// discard only that the primary finished the recipient — delivered,
// relayed, or failed and reported there —, never which. No view says
// more: the last reply (message show, --json, the console) and the
// tracking event carry no 2xx code, as if a next hop had accepted it,
// and say in words that it was delivered or reported there; message
// list's RECIPIENTS leaves it out (not pending here).
func TestPartialDiscardClaimsNoDelivery(t *testing.T) {
	p, qS, _, _, m, stopS, stopP := partialSetup2(t)
	defer stopP()
	stopS() // stopped: the events receiver is swapped while nothing runs
	var events []string
	qS.ev = eventsFunc(func(name string, _ *Message, r *Recipient, reply string) {
		if name == "discard" && r != nil {
			events = append(events, reply)
		}
	})
	p.fetchPartial(t, qS, "hub-b")
	got, err := qS.Message(m.ID)
	if err != nil {
		t.Fatal(err)
	}
	shown := ShownReply(got, 0)
	const words = "delivered, reported or kept there"
	if len(shown) >= 3 && shown[0] >= '2' && shown[0] <= '5' && shown[1] >= '0' && shown[1] <= '9' {
		t.Errorf("a@'s last reply %q reads as a next hop's reply", shown)
	}
	if !strings.Contains(shown, "hub-b") || !strings.Contains(shown, words) {
		t.Errorf("a@'s last reply %q: want the primary hub-b and %q", shown, words)
	}
	if st := qS.StateView().RecipientStatus(got, 0); st != "done by primary" {
		t.Errorf("a@'s status %q, want done by primary", st)
	}
	if len(events) != 1 || strings.Contains(events[0], "250") || !strings.Contains(events[0], words) {
		t.Errorf("discard events %q: want one, saying %q, with no 250", events, words)
	}
	sv := qS.StateView()
	if a, b := RecipientOpen(sv.RecipientStatus(got, 0)), RecipientOpen(sv.RecipientStatus(got, 1)); a || !b {
		t.Errorf("open here: a@ %v, b@ %v; want b@ alone", a, b)
	}
}

// A partial discard kept aside while its copy was in delivery is tracked,
// once the commit applied it, as the partial discard it is — one event
// per recipient it settled, naming that recipient — not as the discard
// of the whole copy: the other recipients are still held here for the
// primary (CI of 8c9ab499, TestPartialDiscardNoRedelivery: the track
// showed "shadow copy discarded by hub-b" for a copy still keeping one).
func TestPartialDiscardKeptAsideTrackedAsPartial(t *testing.T) {
	p, qS, sS, _, m, stopS, stopP := partialSetup2(t)
	defer stopP()
	stopS()
	type event struct{ rcpt, reply string }
	var mu sync.Mutex
	var got []event
	qS.ev = eventsFunc(func(name string, _ *Message, r *Recipient, reply string) {
		if name != "discard" {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		e := event{reply: reply}
		if r != nil {
			e.rcpt = r.Addr
		}
		got = append(got, e)
	})
	err := sS.Update(context.Background(), func(tx *Tx) error {
		got, err := tx.Get(m.ID)
		if err != nil {
			return err
		}
		got.State = Active
		return tx.Put(got)
	})
	if err != nil {
		t.Fatal(err)
	}
	if lines := p.fetchPartial(t, qS, "hub-b"); len(lines) != 1 {
		t.Fatalf("notifications %q", lines)
	}
	err = sS.Update(context.Background(), func(tx *Tx) error {
		got, err := tx.Get(m.ID)
		if err != nil {
			return err
		}
		if _, err := applyEarlyDiscards(tx, got, nil); err != nil {
			return err
		}
		return tx.Put(got)
	})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0].rcpt != "a@c.example" || !strings.HasPrefix(got[0].reply, "partial discard notification from hub-b") {
		t.Fatalf("events after the commit: %+v, want one partial discard of a@c.example", got)
	}
}
