package queue

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/clock"
)

// A primary (hub-b) for the shadow server hub-a: its own queue on its own
// bbolt file, whose deliverer relays a@ at once, fails f@ for good and
// defers every other recipient; a DSN (to s@) goes once dsnGo is set.
type copyPrimary struct {
	s     *Store
	q     *Manager
	clk   *clock.Fake
	dsnGo atomic.Bool
	allGo atomic.Bool // every recipient relayed at once
	bGo   atomic.Bool // b@ relayed (the DSN still waits for dsnGo)
	// dsnTooBig: a DSN to s@ that returns the whole message is refused
	// as too big for the way back (refitDSN makes it again, headers only).
	dsnTooBig atomic.Bool
	// dsnGate, when set, holds a DSN's delivery to s@ (dsnIn counts them).
	dsnGate atomic.Pointer[chan struct{}]
	dsnIn   atomic.Int32
	// dsnPanic: a DSN's delivery panics (its attempt is poisoned).
	dsnPanic atomic.Bool
}

func newCopyPrimary(t *testing.T, clk *clock.Fake) *copyPrimary {
	return newCopyPrimaryWith(t, clk, ManagerConfig{})
}

// newCopyPrimaryWith is newCopyPrimary with cfg (its clock and retry
// schedule set here).
func newCopyPrimaryWith(t *testing.T, clk *clock.Fake, cfg ManagerConfig) *copyPrimary {
	p := &copyPrimary{s: openTest(t), clk: clk}
	d := DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		var out []Result
		if g := p.dsnGate.Load(); g != nil && m.OwnDSN() {
			p.dsnIn.Add(1)
			<-*g
			if p.dsnPanic.Load() {
				panic("the DSN's delivery panics")
			}
		}
		for _, i := range rcpts {
			switch a := m.Rcpts[i].Addr; {
			case a == "s@example.org" && p.dsnTooBig.Load() && strings.Contains(string(b), "Content-Type: message/rfc822"):
				out = append(out, Result{Rcpt: i, Outcome: FailedPerm, NextHop: "mx.example.org", Reply: "552 5.3.4 message too big for the way back"})
			case a == "a@c.example" || a == "s@example.org" && p.dsnGo.Load() || p.allGo.Load() || a == "b@c.example" && p.bGo.Load():
				out = append(out, Result{Rcpt: i, Outcome: RelayedOK, NextHop: "mx.c.example", Reply: "250 ok"})
			case a == "f@c.example":
				out = append(out, Result{Rcpt: i, Outcome: FailedPerm, NextHop: "mx.c.example", Reply: "550 5.1.1 no such user"})
			default:
				out = append(out, Result{Rcpt: i, Outcome: Deferred, NextHop: "mx.c.example", Reply: "451 4.4.1 later"})
			}
		}
		return out
	})
	cfg.Clock, cfg.RetrySchedule = clk, []time.Duration{time.Minute}
	p.q = NewManager(p.s, d, cfg)
	return p
}

// relay is one shadow-session transaction from hub-a carrying rcpts of m
// (queue name qname), with the shadow id hub-a's delivery gives it for a
// version-8 primary. The primary's commit comes before the 250, as in a
// session.
func (p *copyPrimary) relay(t *testing.T, ctx context.Context, m *Message, rcpts []int, qname string) []Result {
	return p.relayID(t, ctx, m, rcpts, RelayShadowID(m, rcpts, "hub-b", "db-b", true), qname)
}

// relayID is relay under the shadow id sid.
func (p *copyPrimary) relayID(t *testing.T, ctx context.Context, m *Message, rcpts []int, sid, qname string) []Result {
	pm := &Message{ID: p.s.NewID(p.clk.Now()), From: m.From, Connector: "from-hub-a", ClientIP: "127.0.0.1",
		OrgID: m.OrgID, ShadowServer: "hub-a", ShadowID: sid, RetFull: m.RetFull}
	var out []Result
	for _, i := range rcpts {
		pm.Rcpts = append(pm.Rcpts, Recipient{Addr: m.Rcpts[i].Addr, Notify: m.Rcpts[i].Notify})
		out = append(out, Result{Rcpt: i, Outcome: ShadowedOK, Primary: "hub-b", PrimaryAddr: "127.0.0.2:25",
			ShadowID: sid, PrimaryDB: "db-b", NextHop: "hub-b", Queue: qname, Reply: "250 queued"})
	}
	if err := p.q.Submit(ctx, pm, []byte(body)); err != nil {
		if ctx.Err() != nil {
			// The test ended while an attempt (of a copy taken over, say)
			// relayed: its stop cancels the attempt, no primary's fault.
			for i := range out {
				out[i].Outcome, out[i].Reply = Deferred, "451 4.3.2 delivery stopped by shutdown"
			}
			return out
		}
		t.Errorf("primary's submit: %v", err)
	}
	return out
}

// fetch hands every discard the primary owes hub-a to the shadow server
// q, as a watch session does, and returns them.
func (p *copyPrimary) fetch(t *testing.T, q *Manager) []string {
	ids, ack := p.q.Discards("hub-a", 100)
	if _, err := q.ShadowContact("hub-b", "db-b", ids); err != nil {
		t.Error(err)
	}
	ack()
	return ids
}

// pendingAt reports whether a record at the primary still has addr pending.
func (p *copyPrimary) pendingAt(t *testing.T, addr string) bool {
	for _, pm := range messages(t, p.s) {
		for _, r := range pm.Rcpts {
			if r.Addr == addr && r.Status == Pending {
				return true
			}
		}
	}
	return false
}

// Open case a: the shadow server is killed after relaying a@ (the
// results are lost). After the restart the next attempt relays a@ and b@
// to the same primary again; meanwhile the primary delivered the first
// record and its discard is fetched — after this attempt began, before
// the primary stored this attempt's record. Kept aside, that discard is
// for the lost attempt's copy: the new record, with b@ still pending at
// the primary, must keep its copy here.
func TestEarlyDiscardOfLostAttemptSparesNextAttemptsCopy(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	pathS := filepath.Join(t.TempDir(), "queue.db")
	sS, err := Open(pathS, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sS.Close()
	p := newCopyPrimary(t, clk)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p.q.Start(ctx)

	var crashedAt atomic.Value
	dS := DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		out := p.relay(t, ctx, m, rcpts[:1], "hub-b")
		crashedAt.Store(crashCopy(t, pathS))
		return append(out, Result{Rcpt: rcpts[1], Outcome: Deferred, NextHop: "hub-b", Reply: "452 4.5.3 too many recipients"})
	})
	qS := NewManager(sS, dS, ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Minute}})
	ctx1, cancel1 := context.WithCancel(ctx)
	qS.Start(ctx1)
	m := msg(sS, "s@example.org", "a@c.example", "b@c.example")
	m.Arrived = clk.Now()
	if err := qS.Submit(ctx1, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the killed attempt", func() bool { return crashedAt.Load() != nil })
	crashed := crashedAt.Load().(string)
	cancel1()
	qS.Wait()

	s2, err := Open(crashed, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	var q2 *Manager
	var fetched atomic.Int32
	q2 = NewManager(s2, DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		waitFor(t, "the primary's first record delivered", func() bool { return !p.pendingAt(t, "a@c.example") && len(messages(t, p.s)) == 0 })
		fetched.Add(int32(len(p.fetch(t, q2))))
		return p.relay(t, ctx, m, rcpts, "hub-b")
	}), ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Minute}})
	if _, _, err := q2.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	q2.Start(ctx)
	defer func() { cancel(); q2.Wait(); p.q.Wait() }()
	waitFor(t, "the restarted attempt's commit", func() bool {
		got, err := q2.Message(m.ID)
		return err != nil || got.State != Active && got.State != Ready
	})
	if fetched.Load() != 1 {
		t.Fatalf("the first record's discard was not fetched during the attempt (%d)", fetched.Load())
	}
	if !p.pendingAt(t, "b@c.example") {
		t.Fatal("the primary's record of b@ should be pending")
	}
	got, _ := q2.Message(m.ID)
	if got == nil || got.Rcpts[1].Status != Shadowed {
		t.Fatalf("b@ waits at the primary only: the discard of the lost attempt's record settled the new copy (copy: %+v)", got)
	}
}

// Open case b: one attempt, two jobs to the same primary under one queue
// name (two destinations behind one hub). The first job's record is done
// at the primary and its discard fetched before the second job's
// transaction: it settles a@'s copy, never b@'s.
func TestEarlyDiscardOfFirstJobSparesSecondJobsCopy(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	sS := openTest(t)
	p := newCopyPrimary(t, clk)
	var qS *Manager
	dS := DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		out := p.relay(t, ctx, m, []int{0}, "hub-b")
		waitFor(t, "the first job's record delivered", func() bool { return len(messages(t, p.s)) == 0 })
		if ids := p.fetch(t, qS); len(ids) != 1 {
			t.Errorf("discards of the first job's record: %v", ids)
		}
		return append(out, p.relay(t, ctx, m, []int{1}, "hub-b")...)
	})
	qS = NewManager(sS, dS, ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Minute}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); qS.Wait(); p.q.Wait() }()
	p.q.Start(ctx)
	qS.Start(ctx)
	m := msg(sS, "s@example.org", "a@c.example", "b@c.example")
	m.Arrived = clk.Now()
	if err := qS.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the attempt's commit", func() bool {
		got, err := qS.Message(m.ID)
		return err != nil || got.Attempts == 1 && got.State != Active && got.State != Ready || got.Rcpts[1].Status == Shadowed
	})
	if !p.pendingAt(t, "b@c.example") {
		t.Fatal("the primary's record of b@ should be pending")
	}
	got, _ := qS.Message(m.ID)
	if got == nil || got.Rcpts[1].Status != Shadowed {
		t.Fatalf("b@ waits at the primary only: the first job's discard settled the second job's copy (copy: %+v)", got)
	}
	if got.Rcpts[0].Status != Relayed {
		t.Fatalf("a@'s copy should be settled by its discard: %+v", got.Rcpts[0])
	}
}

// Open case c: the primary fails f@ for good and makes the failure DSN,
// which carries the discard of f@'s record. The next attempt here relays
// b@ (deferred at RCPT the first time) to the same primary. The DSN's end
// writes its discard — it must settle f@'s copy here, not b@'s, whose
// record still waits at the primary.
func TestFailureDSNDiscardSparesLaterRecordsCopy(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	sS := openTest(t)
	p := newCopyPrimary(t, clk)
	var attempts atomic.Int32
	dS := DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		if attempts.Add(1) == 1 {
			return append(p.relay(t, ctx, m, rcpts[:1], "hub-b"),
				Result{Rcpt: rcpts[1], Outcome: Deferred, NextHop: "hub-b", Reply: "452 4.5.3 too many recipients"})
		}
		return p.relay(t, ctx, m, rcpts, "hub-b")
	})
	qS := NewManager(sS, dS, ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Minute}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); qS.Wait(); p.q.Wait() }()
	p.q.Start(ctx)
	qS.Start(ctx)
	m := msg(sS, "s@example.org", "f@c.example", "b@c.example")
	m.OrgID = "0123456789abcdef0123456789abcdef"
	m.Arrived = clk.Now()
	if err := qS.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the primary's DSN for f@", func() bool {
		for _, pm := range messages(t, p.s) {
			if pm.From == "" && pm.ShadowServer == "hub-a" {
				return true
			}
		}
		return false
	})
	clk.Advance(2 * time.Minute)
	qS.Kick()
	waitFor(t, "the second attempt's commit", func() bool {
		got, err := qS.Message(m.ID)
		return err != nil || attempts.Load() == 2 && got.State != Active && got.State != Ready
	})
	if !p.pendingAt(t, "b@c.example") {
		t.Fatal("the primary's record of b@ should be pending")
	}
	p.dsnsDeferred(t)
	p.dsnGo.Store(true)
	clk.Advance(2 * time.Minute)
	p.q.Kick()
	var ids []string
	waitFor(t, "the DSN's discard", func() bool { ids = append(ids, p.fetch(t, qS)...); return len(ids) > 0 })
	got, _ := qS.Message(m.ID)
	if got == nil || got.Rcpts[1].Status != Shadowed {
		t.Fatalf("b@ waits at the primary only: the failure DSN's discard (%v) settled its copy (copy: %+v)", ids, got)
	}
	if got.Rcpts[0].Status == Shadowed {
		t.Fatalf("f@'s copy should be settled by the DSN's discard: %+v", got.Rcpts[0])
	}
}

// The relay whose 250 was lost, to a version-8 primary: the primary
// stored b@'s record, this server saw the connection drop and relays b@
// again in its next attempt, under a new id. The primary must not merge
// that copy into its first record (whose discard names the first id, of
// which this server has no copy) and discard the new id at once: b@
// would then wait there with no copy here.
func TestLostReplyRetryKeepsItsCopy(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	sS := openTest(t)
	p := newCopyPrimary(t, clk)
	var attempts atomic.Int32
	dS := DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		out := p.relay(t, ctx, m, rcpts, "hub-b")
		if attempts.Add(1) == 1 {
			for i := range out {
				out[i] = Result{Rcpt: out[i].Rcpt, Outcome: Deferred, NextHop: "hub-b", Reply: "451 4.4.2 connection lost"}
			}
		}
		return out
	})
	qS := NewManager(sS, dS, ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Minute}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); qS.Wait(); p.q.Wait() }()
	p.q.Start(ctx)
	qS.Start(ctx)
	m := msg(sS, "s@example.org", "b@c.example")
	m.OrgID = "0123456789abcdef0123456789abcdef"
	m.Arrived = clk.Now()
	if err := qS.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first attempt", func() bool { got, _ := qS.Message(m.ID); return got != nil && got.Attempts == 1 && got.State == Ready })
	clk.Advance(2 * time.Minute)
	qS.Kick()
	waitFor(t, "the second attempt's commit", func() bool {
		got, err := qS.Message(m.ID)
		return err != nil || attempts.Load() == 2 && got.State != Active && got.State != Ready
	})
	p.fetch(t, qS)
	if !p.pendingAt(t, "b@c.example") {
		t.Fatal("the primary's record of b@ should be pending")
	}
	got, _ := qS.Message(m.ID)
	if got == nil || got.Rcpts[0].Status != Shadowed {
		t.Fatalf("b@ waits at the primary only: the retried copy was merged and discarded at once (copy: %+v)", got)
	}
}

// perTransactionID tells the ids of version 8 from the rest.
func TestPerTransactionID(t *testing.T) {
	m := &Message{ID: 0x6619E16A3F258, Rcpts: []Recipient{{Addr: "a@c.example"}}}
	a, b := RelayShadowID(m, []int{0}, "hub-b", "", true), RelayShadowID(m, []int{0}, "hub-b", "", true)
	if a == b || !perTransactionID(a) || !validRelayID(a) {
		t.Fatalf("ids %q and %q", a, b)
	}
	old := RelayShadowID(m, []int{0}, "hub-b", "", false)
	if perTransactionID(old) || !strings.HasPrefix(a, old+"-") {
		t.Fatalf("version-7 id %q, version-8 id %q", old, a)
	}
	for _, s := range []string{"0123456789abcdef0123456789abcdef", "0001-aa", "0006619E16A3F258-6d8417a3-zz12345678ab", ""} {
		if perTransactionID(s) {
			t.Errorf("%q taken for a per-transaction id", s)
		}
	}
	m.Rcpts[0].Status, m.Rcpts[0].Primary, m.Rcpts[0].ShadowID = Pending, "hub-b", a
	if got := RelayShadowID(m, []int{0}, "hub-b", "", true); got != a {
		t.Fatalf("a copy taken over from hub-b under %q goes back under %q", a, got)
	}
	// SR-7: taken over under db1, it keeps its id back to db1 only; to
	// hub-b on another database it is a new copy (copyid.go).
	m.CopyUnder = map[string]string{giveBackKey("hub-b", a): "db1"}
	if got := RelayShadowID(m, []int{0}, "hub-b", "db1", true); got != a {
		t.Fatalf("a copy taken over under db1 goes back to db1 under %q, not %q", got, a)
	}
	if got := RelayShadowID(m, []int{0}, "hub-b", "db2", true); got == a || !perTransactionID(got) {
		t.Fatalf("a copy taken over under db1 goes to hub-b on db2 under %q (taken over under %q)", got, a)
	}
	m.CopyUnder = nil
	if got := RelayShadowID(m, []int{0}, "hub-c", "", true); got == a {
		t.Fatal("a copy taken over from hub-b goes to hub-c under hub-b's id")
	}
	m.OrgID = "0123456789abcdef0123456789abcdef"
	m.Rcpts[0].ShadowID = m.OrgID // a copy on receipt taken over
	if got := RelayShadowID(m, []int{0}, "hub-b", "", true); !perTransactionID(got) {
		t.Fatalf("a copy on receipt taken over goes back under %q", got)
	}
}

// validRelayID is W-3's rule for a shadow id.
func validRelayID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	return strings.Trim(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == ""
}

// Case c's sibling for a copy on receipt, whose id is the message's org
// id (receiptcopy.go): this server failed f@ of the first record and made
// the failure DSN, which carries that record's discard; a later record
// of the same message (relayed here again without a shadow session) then
// pushed its copy to the same shadow server, under the same id. The DSN's
// end must not write the discard while that record waits: it would
// settle the later record's copy there too.
func TestFailureDSNKeepsDiscardOfLaterReceiptCopy(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	p := newCopyPrimary(t, clk)
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); p.q.Wait() }()
	p.q.Start(ctx)
	org := "0123456789abcdef0123456789abcdef"
	r1 := msg(p.s, "s@example.org", "f@c.example")
	r1.OrgID, r1.ShadowServer, r1.ShadowID = org, "hub-s", org
	r1.Arrived = clk.Now()
	if err := p.q.Submit(ctx, r1, []byte(body)); err != nil {
		t.Fatal(err)
	}
	var dsn ID
	waitFor(t, "the failure DSN carrying the discard", func() bool {
		for _, pm := range messages(t, p.s) {
			if pm.From == "" && pm.ShadowServer == "hub-s" {
				dsn = pm.ID
			}
		}
		return dsn != 0
	})
	r2 := msg(p.s, "s@example.org", "b@c.example")
	r2.OrgID, r2.ShadowServer, r2.ShadowID = org, "hub-s", org
	r2.Arrived = clk.Now()
	if err := p.q.Submit(ctx, r2, []byte(body)); err != nil {
		t.Fatal(err)
	}
	p.dsnsDeferred(t)
	p.dsnGo.Store(true)
	clk.Advance(2 * time.Minute)
	p.q.Kick()
	waitFor(t, "the DSN's end", func() bool { _, err := p.q.Message(dsn); return err != nil })
	if !p.pendingAt(t, "b@c.example") {
		t.Fatal("the later record should wait with b@")
	}
	if ids, _ := p.q.Discards("hub-s", 100); len(ids) != 0 {
		t.Fatalf("the DSN's end discarded %v while the later record needs the copy", ids)
	}
}

// A copy taken over here and sent back to its own primary, back with its
// old database, keeps the id it was taken over under: the version-8
// primary merges it into its original (no second delivery), writes no
// discard for it then, and the original's own discard settles it when
// the original is done.
func TestTakenOverCopySentBackMergesUnderItsID(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	sS := openTest(t)
	p := newCopyPrimary(t, clk)
	var mu sync.Mutex
	var sids []string
	dS := DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		out := p.relay(t, ctx, m, rcpts, "hub-b")
		mu.Lock()
		sids = append(sids, out[0].ShadowID)
		mu.Unlock()
		return out
	})
	qS := NewManager(sS, dS, ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Minute}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); qS.Wait(); p.q.Wait() }()
	p.q.Start(ctx)
	qS.Start(ctx)
	m := msg(sS, "s@example.org", "b@c.example")
	m.OrgID = "0123456789abcdef0123456789abcdef"
	m.Arrived = clk.Now()
	if err := qS.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b@ relayed to the primary", func() bool {
		got, _ := qS.Message(m.ID)
		return got != nil && got.State != Active && got.Rcpts[0].Status == Shadowed
	})
	if n, err := qS.Takeover("hub-b", "test: the primary seemed gone"); err != nil || n != 1 {
		t.Fatalf("takeover: %d, %v", n, err)
	}
	qS.Kick()
	waitFor(t, "the taken-over copy sent back", func() bool {
		got, _ := qS.Message(m.ID)
		mu.Lock()
		defer mu.Unlock()
		return len(sids) == 2 && got != nil && got.State != Active && got.Rcpts[0].Status == Shadowed
	})
	mu.Lock()
	first, second := sids[0], sids[1]
	mu.Unlock()
	if first != second {
		t.Fatalf("the taken-over copy went back under %q, taken over under %q", second, first)
	}
	if recs := messages(t, p.s); len(recs) != 1 {
		t.Fatalf("the primary keeps %d records: the copy sent back did not merge into the original", len(recs))
	}
	if ids, _ := p.q.Discards("hub-a", 100); len(ids) != 0 {
		t.Fatalf("the merge discarded %v while the original still needs the copy", ids)
	}
	p.allGo.Store(true)
	clk.Advance(2 * time.Minute)
	p.q.Kick()
	waitFor(t, "the original's discard settling the copy", func() bool {
		p.fetch(t, qS)
		_, err := qS.Message(m.ID)
		return err != nil
	})
}
