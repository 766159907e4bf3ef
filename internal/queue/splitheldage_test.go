package queue

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/orgid"
)

// splitCopyRig: a message received here whose recipients went into two
// records (parts) — x@a.example and y@b.example, one per destination —
// under one org id, both naming the one copy on receipt that hub-h
// keeps (shadow id = the org id). Every delivery here is deferred. The
// holder is a second manager on its own database and the same fake
// clock; its copy is taken over by its expiry pass (pruneDiscards) as
// a holder's is. With bDone, y@b.example is relayed at its first
// attempt: its part is gone, x@a.example's alone needs the copy.
type splitCopyRig struct {
	clk    *clock.Fake
	p      *Manager // this server
	ps     *Store
	d      *scripted
	h      *Manager // hub-h, the holder
	hs     *Store
	a, b   *Message // the two parts
	copyID ID       // the holder's record of the copy
}

const splitExp = 4 * time.Hour

func newSplitCopyRig(t *testing.T, bDone bool) *splitCopyRig {
	t.Helper()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := &splitCopyRig{clk: clock.NewFake(t0)}
	var err error
	if r.ps, err = Open(filepath.Join(t.TempDir(), "queue.db"), Options{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.ps.Close() })
	r.hs = openTest(t)
	r.h = NewManager(r.hs, nil, ManagerConfig{MessageExpiration: splitExp, Clock: r.clk})

	org := orgid.New()
	part := func(rcpt string) *Message {
		m := msg(r.ps, "", rcpt) // the null sender: no DSN at the expiry
		m.OrgID, m.ShadowServer, m.ShadowID = org, "hub-h", org
		m.State, m.Arrived, m.NextAttempt = Ready, t0, t0
		return m
	}
	r.a, r.b = part("x@a.example"), part("y@b.example")
	ctx := context.Background()
	for _, m := range []*Message{r.a, r.b} {
		if err := r.ps.Update(ctx, func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
			t.Fatal(err)
		}
	}
	c := msg(r.hs, "", "x@a.example", "y@b.example")
	c.OrgID = org
	if stored, err := r.h.SubmitShadowCopy(ctx, c, []byte(body), "hub-p", "127.0.0.2:25", "db-p"); err != nil || !stored {
		t.Fatalf("the holder's copy: stored %v, %v", stored, err)
	}
	r.copyID = c.ID

	r.d = newScripted(func(addr string, _ int) (Outcome, string) {
		if bDone && addr == "y@b.example" {
			return RelayedOK, "250 2.0.0 queued"
		}
		return Deferred, "451 4.3.0 try later"
	})
	r.p = NewManager(r.ps, r.d, ManagerConfig{Clock: r.clk, Hostname: "hub-p",
		RetrySchedule: []time.Duration{30 * time.Minute}, MessageExpiration: splitExp})
	pctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); r.p.Wait() })
	r.p.Start(pctx)
	r.settled(t, 1)
	return r
}

func (r *splitCopyRig) tries(addr string) int {
	r.d.mu.Lock()
	defer r.d.mu.Unlock()
	return r.d.attempts[addr]
}

// settled waits until every part still queued had n attempts in all and
// is out of delivery.
func (r *splitCopyRig) settled(t *testing.T, n int) {
	t.Helper()
	waitFor(t, "the parts' attempts committed", func() bool {
		for _, m := range []*Message{r.a, r.b} {
			got, err := r.p.Message(m.ID)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil || got.State == Active || got.State == Ready && r.tries(m.Rcpts[0].Addr) < n {
				return false
			}
		}
		return true
	})
}

// advance moves the clock and lets every part due run once.
func (r *splitCopyRig) advance(t *testing.T, d time.Duration) {
	t.Helper()
	n := max(r.tries("x@a.example"), r.tries("y@b.example"))
	r.clk.Advance(d)
	r.p.Kick()
	r.settled(t, n+1)
}

// holderTakesOver runs the holder's expiry pass after the discards this
// server owes it reached it, and reports the recipient of the copy the
// holder took over while this server still has it pending (a message
// delivered twice): "" for none.
func (r *splitCopyRig) holderTakesOver(t *testing.T) string {
	t.Helper()
	ids, ack := r.p.Discards("hub-h", 100)
	if len(ids) > 0 {
		if _, err := r.h.ApplyDiscards("hub-p", ids); err != nil {
			t.Fatal(err)
		}
		ack()
	}
	r.h.pruneDiscards(r.clk.Now())
	c, err := r.h.Message(r.copyID)
	if err != nil {
		return "" // settled: the holder keeps nothing
	}
	for _, hr := range c.Rcpts {
		if hr.Status == Shadowed {
			continue // still the copy, not delivered by the holder
		}
		for _, m := range []*Message{r.a, r.b} {
			got, err := r.p.Message(m.ID)
			if err != nil {
				continue
			}
			for _, pr := range got.Pending() {
				if got.Rcpts[pr].Addr == hr.Addr {
					return hr.Addr
				}
			}
		}
	}
	return ""
}

// noTakeoverWhilePending fails t when the holder's expiry pass took its
// copy over while this server still retries a recipient of it
// (holderTakesOver); how says what the holder's copy went through.
func (r *splitCopyRig) noTakeoverWhilePending(t *testing.T, how string) {
	t.Helper()
	if addr := r.holderTakesOver(t); addr != "" {
		got, _ := r.p.Message(r.a.ID)
		t.Fatalf("hub-h took its copy of %s over at receipt + expiry + 1 h%s while this server still retries it (%s, arrived %v, %v earlier): delivered twice",
			addr, how, got.State, got.Arrived, got.OrgEarlier)
	}
}

// SR-13, Q-3: a split message (two parts here, one copy on hub-h) whose
// part x@a.example the operator held while the other part still needed
// the copy (so the hold wrote no discard) was resumed with the time
// held taken out of its age (released from the quarantine: its age
// started again): its expiry moved past the copy's, which the
// holder still keeps with its receipt time. At receipt + expiry + 1 h
// the holder took the copy over and delivered x@a.example while this
// server still retried it — the message delivered twice. A part whose
// copy another part keeps needed keeps its age through the hold: it
// expires with the copy it shares.
func TestSR13SplitPartResumedKeepsTheSharedCopysAge(t *testing.T) {
	for _, hold := range []string{"suspend", "poison", "quarantine"} {
		t.Run(hold, func(t *testing.T) {
			r := newSplitCopyRig(t, false)
			ctx := context.Background()
			r.advance(t, time.Hour)
			switch hold {
			case "suspend":
				if err := r.p.SuspendMessage(ctx, r.a.ID); err != nil {
					t.Fatal(err)
				}
			case "poison", "quarantine": // as Recover moves a record that crashed its attempts; as a check holds a part
				if err := r.ps.Update(ctx, func(tx *Tx) error {
					m, err := tx.Get(r.a.ID)
					if err != nil {
						return err
					}
					if hold == "poison" {
						m.State, m.CrashCount = Poison, 3
					} else {
						m.State, m.Quarantine = Quarantined, "held by a content check"
					}
					return tx.Put(m)
				}); err != nil {
					t.Fatal(err)
				}
			}
			r.advance(t, 2*time.Hour) // b's retry; a held
			release := r.p.ResumeMessage
			if hold == "quarantine" {
				release = r.p.ReleaseQuarantined
			}
			if err := release(ctx, r.a.ID); err != nil {
				t.Fatal(err)
			}
			r.settled(t, r.tries("y@b.example"))
			r.advance(t, time.Hour+time.Minute) // past the receipt's expiry
			r.clk.Advance(time.Hour + time.Minute)
			r.noTakeoverWhilePending(t, "")
		})
	}
}

// SR-13, Q-3 (the sibling on the holder): a part held alone (its
// sibling done, so its hold wrote the discard) and resumed has its copy
// made again with the age the resume left it (markReleasedSingle, the
// re-make pass). The re-make withdraws the discard the holder had not
// fetched yet (RecopyPushing), and the holder, still keeping the copy
// under the same org id, took the push for a repeat and kept the copy
// with its first receipt time: at receipt + expiry + 1 h it took the
// copy over and delivered x@a.example while this server, the hold not
// counted in the part's age, still retried it. A push that carries a
// later arrival than the copy kept renews the copy's age.
func TestSR13RemadeCopyMergedOnTheHolderTakesThePushsAge(t *testing.T) {
	r := newSplitCopyRig(t, true)
	ctx := context.Background()
	waitFor(t, "y@b.example's part done", func() bool {
		_, err := r.p.Message(r.b.ID)
		return errors.Is(err, ErrNotFound)
	})
	r.advance(t, time.Hour)
	if err := r.p.SuspendMessage(ctx, r.a.ID); err != nil {
		t.Fatal(err)
	}
	r.clk.Advance(2 * time.Hour) // held; hub-h fetches nothing meanwhile
	if err := r.p.ResumeMessage(ctx, r.a.ID); err != nil {
		t.Fatal(err)
	}
	r.settled(t, r.tries("x@a.example")+1)
	// The re-make pass pushes the copy to hub-h again, as the mark asks.
	if _, err := r.p.RecopyPushing(r.a.ID, "hub-h"); err != nil {
		t.Fatal(err)
	}
	a, err := r.p.Message(r.a.ID)
	if err != nil {
		t.Fatal(err)
	}
	c := msg(r.hs, "", "x@a.example")
	c.OrgID, c.CarriedArrival = a.OrgID, a.Carried().Arrived
	if _, err := r.h.SubmitShadowCopy(ctx, c, []byte(body), "hub-p", "127.0.0.2:25", "db-p"); err != nil {
		t.Fatal(err)
	}
	r.advance(t, time.Hour+time.Minute) // past the receipt's expiry, not the part's
	r.clk.Advance(time.Hour + time.Minute)
	r.noTakeoverWhilePending(t, ", its re-made copy merged into the one it kept,")
}

// SR-13, OPS-3 (the sibling of the hold among the operator's actions): a
// part removed by the operator (message remove) while the other part
// still needs the shared copy wrote no discard, and nothing settled its
// recipients in the copy: should this server then fail, hub-h's takeover
// delivered x@a.example, which the operator had removed (with --ndr,
// after its sender was told it failed). The removal settles the part's
// recipients in the copy by a partial discard (none that another record
// here still has pending), and its DSN's recipients once the DSN left.
func TestSR13RemovedPartIsSettledInTheSharedCopy(t *testing.T) {
	for _, ndr := range []bool{false, true} {
		t.Run(map[bool]string{false: "no DSN", true: "ndr"}[ndr], func(t *testing.T) {
			r := newSplitCopyRig(t, false)
			ctx := context.Background()
			if ndr {
				if err := r.ps.Update(ctx, func(tx *Tx) error {
					m, err := tx.Get(r.a.ID)
					if err != nil {
						return err
					}
					m.From, m.Rcpts[0].Notify = "s@example.org", NotifyFailure
					return tx.Put(m)
				}); err != nil {
					t.Fatal(err)
				}
			}
			if err := r.p.RemoveMessage(ctx, r.a.ID, ndr); err != nil {
				t.Fatal(err)
			}
			if ndr {
				// Until the DSN leaves, the copy covers the failure it
				// reports: this server lost now, the DSN is lost with
				// it, and a partial discard written at the removal
				// would leave the sender told nothing and x@a.example
				// delivered by no one.
				owed, _ := r.p.DiscardsPartial("hub-h", 100) // read, not acknowledged
				for _, l := range owed {
					if pd, ok := ParsePartialDiscard(l); ok && pd.Addr == "x@a.example" {
						t.Fatalf("the removal settled x@a.example in the shared copy (%q) while its failure DSN is still here: lost with this server, the sender is told nothing", owed)
					}
				}
				// The DSN leaves (its next hop takes it): the copy no
				// longer covers the failure it reports.
				r.d.mu.Lock()
				r.d.answer = func(addr string, _ int) (Outcome, string) {
					if addr == "s@example.org" {
						return RelayedOK, "250 2.0.0 queued"
					}
					return Deferred, "451 4.3.0 try later"
				}
				r.d.mu.Unlock()
				r.p.Kick()
				waitFor(t, "the DSN sent", func() bool { return r.tries("s@example.org") > 0 && len(messages(t, r.ps)) == 1 })
			}
			lines, ack := r.p.DiscardsPartial("hub-h", 100)
			if _, err := r.h.ShadowContact("hub-p", "db-p", lines); err != nil {
				t.Fatal(err)
			}
			ack()
			// This server fails for good: hub-h takes its copy over.
			if _, err := r.h.Takeover("hub-p", "test"); err != nil {
				t.Fatal(err)
			}
			c, err := r.h.Message(r.copyID)
			if err != nil {
				t.Fatalf("the copy of y@b.example, still pending here, is gone from hub-h: %v", err)
			}
			var pending []string
			for _, i := range c.Pending() {
				pending = append(pending, c.Rcpts[i].Addr)
			}
			if len(pending) != 1 || pending[0] != "y@b.example" {
				t.Fatalf("hub-h's takeover of the shared copy delivers %q (partial discards fetched %q), want y@b.example alone: x@a.example was removed by the operator here", pending, lines)
			}
		})
	}
}

// The sibling of TestSR13RemadeCopyMergedOnTheHolderTakesThePushsAge on
// the server that relayed the message in a shadow session: the copy made
// again after a part's resume, pushed under the org id, is folded into
// the relayed record (foldIntoRelayed), which kept its own receipt time:
// its expiry pass took the copy over at that receipt + expiry + 1 h while
// the primary still retried the part. The fold takes the push's later
// age too — also into a relayed record with mail of its own still to
// deliver here (own): it becomes a copy alone once that mail is done,
// and was then taken over by its first receipt all the same. Its own
// mail keeps its age (the organisation's arrival): its expiry is not
// the copy's.
func TestSR13RemadeCopyFoldedIntoTheRelayTakesThePushsAge(t *testing.T) {
	for _, own := range []bool{false, true} {
		t.Run(map[bool]string{false: "copy alone", true: "own mail"}[own], func(t *testing.T) {
			t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			clk := clock.NewFake(t0)
			s := openTest(t)
			q := NewManager(s, nil, ManagerConfig{Clock: clk, MessageExpiration: splitExp})
			g := orgid.New()
			rec := &Message{ID: s.NewID(clk.Now()), State: Shadow, From: "s@example.org", Connector: "test", ClientIP: "127.0.0.1",
				Arrived: t0, OrgID: g}
			x1 := rec.ID.String() + "-" + primaryHash("hub-b") + "-000000000001"
			rec.Rcpts = []Recipient{{Addr: "a@c.example", Status: Shadowed, Primary: "hub-b", ShadowID: x1}}
			if own {
				rec.State = Ready
				rec.Rcpts = append(rec.Rcpts, Recipient{Addr: "o@d.example"})
			}
			if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(rec, []byte(body)) }); err != nil {
				t.Fatal(err)
			}
			if _, err := q.ShadowContact("hub-b", "db-b", nil); err != nil {
				t.Fatal(err)
			}
			// hub-b held its record 2 h from t0+1h and resumed it: the copy
			// made again carries the age the resume left it (an hour).
			clk.Advance(3 * time.Hour)
			push := &Message{ID: s.NewID(clk.Now()), From: "s@example.org", Connector: "test", ClientIP: "127.0.0.1", OrgID: g,
				CarriedArrival: t0.Add(2 * time.Hour), Rcpts: []Recipient{{Addr: "a@c.example"}}}
			if _, err := q.SubmitShadowCopy(context.Background(), push, []byte(body), "hub-b", "", "db-b"); err != nil {
				t.Fatal(err)
			}
			got, err := q.Message(rec.ID)
			if err != nil || got.Rcpts[0].ShadowID != g {
				t.Fatalf("the push was not folded into the relayed record: %+v %v", got, err)
			}
			if own {
				if !got.OrgArrived().Equal(t0) {
					t.Fatalf("the fold moved the arrival of the relayed record's own mail from %v to %v: its expiry is its own", t0, got.OrgArrived())
				}
				// Its own mail delivered, as an attempt's commit leaves it:
				// a copy held for hub-b alone.
				if err := s.Update(context.Background(), func(tx *Tx) error {
					m, err := tx.Get(rec.ID)
					if err != nil {
						return err
					}
					m.Rcpts[1].Status, m.State = Delivered, Shadow
					return tx.Put(m)
				}); err != nil {
					t.Fatal(err)
				}
			}
			// t0 + expiry + 1 h and a little: past the relay's receipt, not
			// past the resumed record's age at hub-b.
			clk.Advance(2*time.Hour + 2*time.Minute)
			q.pruneDiscards(clk.Now())
			if got, err = q.Message(rec.ID); err != nil {
				t.Fatal(err)
			}
			if got.Rcpts[0].Status != Shadowed {
				t.Fatalf("the relayed copy, folded with the copy made again after hub-b's resume, was taken over at its first receipt + expiry + 1 h (arrived %v): hub-b still retries a@c.example until %v",
					got.Arrived, t0.Add(2*time.Hour+splitExp))
			}
		})
	}
}
