package queue

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/queue/queuetest"
)

// auditPrimary is the primary hub-b of the shadow server hub-a in the
// tests below: a copyPrimary whose deliverer relays a@ while aGo is set
// (every recipient while allGo is) and defers every other recipient.
type auditPrimary struct {
	*copyPrimary
	aGo atomic.Bool
}

func newAuditPrimary(t *testing.T, clk *clock.Fake, aGo bool) *auditPrimary {
	p := &auditPrimary{copyPrimary: &copyPrimary{s: openTest(t), clk: clk}}
	p.aGo.Store(aGo)
	d := DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		var out []Result
		for _, i := range rcpts {
			if m.Rcpts[i].Addr == "a@c.example" && p.aGo.Load() || p.allGo.Load() {
				out = append(out, Result{Rcpt: i, Outcome: RelayedOK, NextHop: "mx.c.example", Reply: "250 ok"})
				continue
			}
			out = append(out, Result{Rcpt: i, Outcome: Deferred, NextHop: "mx.c.example", Reply: "451 4.4.1 later"})
		}
		return out
	})
	p.q = NewManager(p.s, d, auditConfig(clk))
	return p
}

// auditConfig is the configuration of both servers: a fake clock, one
// minute between attempts.
func auditConfig(clk *clock.Fake) ManagerConfig {
	return ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Minute}}
}

// relay is one shadow-session transaction from hub-a carrying rcpts of
// m, under the one shadow id of m for this primary (delivery: m.ID +
// "-" + shortHash(primary)), with no queue name.
func (p *auditPrimary) relay(t *testing.T, ctx context.Context, m *Message, rcpts ...int) []Result {
	return p.relayID(t, ctx, m, rcpts, m.ID.String()+"-b", "")
}

// relayFirstDelivered relays a@ (rcpts[0]) alone from the shadow server
// q's attempt in delivery, waits until the primary delivered that record
// and hands its discard to q while the attempt still runs; it returns
// the relay's results.
func (p *auditPrimary) relayFirstDelivered(t *testing.T, ctx context.Context, q *Manager, m *Message, rcpts []int) []Result {
	out := p.relay(t, ctx, m, rcpts[0])
	waitFor(t, "the primary's first record delivered", func() bool { return len(messages(t, p.s)) == 0 })
	p.fetch(t, q)
	return out
}

// expectNewCopyKept waits for the primary's new record waiting with b@
// and for the commit of the shadow server q's attempt (named by what)
// that relayed it, then checks q still holds b@'s copy; settled by
// discard, it would leave b@ on the primary's disk only.
func (p *auditPrimary) expectNewCopyKept(t *testing.T, q *Manager, m *Message, what, discard string) {
	t.Helper()
	var recB ID
	waitFor(t, "the primary's second record waiting with b@", func() bool {
		for _, pm := range messages(t, p.s) {
			for _, r := range pm.Rcpts {
				if r.Addr == "b@c.example" && r.Status == Pending && pm.State == Ready {
					recB = pm.ID
				}
			}
		}
		return recB != 0
	})
	waitFor(t, what, func() bool {
		got, err := q.Message(m.ID)
		return err != nil || got.State != Active && got.State != Ready
	})
	got, _ := q.Message(m.ID)
	if got == nil || got.Rcpts[1].Status != Shadowed {
		t.Fatalf("b@ waits at the primary only: %s settled the new copy (copy: %+v)", discard, got)
	}
}

// submitAB submits a message from s@ to a@ and b@ to the shadow server q
// (store s), arrived now.
func submitAB(t *testing.T, ctx context.Context, clk *clock.Fake, q *Manager, s *Store) *Message {
	t.Helper()
	m := msg(s, "s@example.org", "a@c.example", "b@c.example")
	m.Arrived = clk.Now()
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	return m
}

// A shadow id names the message and its primary (delivery: the message id
// and a hash of the primary), not the primary's record: every relay of
// one message to one primary carries the same id — the recipients a
// primary deferred at RCPT (452 4.5.3 too many recipients, a directory's
// 451) and relayed by a later attempt, or two destinations of one
// attempt served by the same hub. The primary keeps each transaction as
// a record of its own, both naming (shadow server, shadow id); the first
// to finish writes the discard, and the shadow server applies it to
// every recipient shadowed under that id — the copy of the second
// record's recipients too, while that record still waits at the primary.
// From then on those recipients are on the primary's disk only: its loss
// (one failure) loses them.
func TestDiscardOfOneRecordSettlesSiblingCopy(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	sS := openTest(t) // the shadow server (hub-a); the primary (hub-b):
	// "a@" goes once allowed, "b@" waits (its mailbox server is down).
	p := newAuditPrimary(t, clk, false)

	// The shadow server relays to the primary in a shadow session; the
	// primary takes "a@" in the first transaction and "b@" in the second
	// (452 4.5.3 for it the first time). Each transaction is a record of
	// the primary's, as its session's Submit makes it.
	var attempts atomic.Int32
	dS := DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		n := attempts.Add(1)
		var out []Result
		for _, i := range rcpts {
			switch {
			case m.Rcpts[i].Addr == "a@c.example", n > 1:
				out = append(out, p.relay(t, ctx, m, i)...)
			default:
				out = append(out, Result{Rcpt: i, Outcome: Deferred, NextHop: "hub-b", Reply: "452 4.5.3 too many recipients"})
			}
		}
		return out
	})
	qS := NewManager(sS, dS, auditConfig(clk))

	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); qS.Wait(); p.q.Wait() }()
	p.q.Start(ctx)
	qS.Start(ctx)

	m := submitAB(t, ctx, clk, qS, sS)
	waitFor(t, "a@ relayed to the primary", func() bool {
		got, _ := qS.Message(m.ID)
		return got != nil && got.State == Ready && got.Rcpts[0].Status == Shadowed
	})
	clk.Advance(2 * time.Minute)
	qS.Kick()
	waitFor(t, "b@ relayed to the primary", func() bool {
		got, _ := qS.Message(m.ID)
		return got != nil && got.State == Shadow && got.Rcpts[1].Status == Shadowed
	})
	var recB ID
	waitFor(t, "the primary's two records", func() bool {
		n := 0
		for _, pm := range messages(t, p.s) {
			n++
			if pm.Rcpts[0].Addr == "b@c.example" {
				recB = pm.ID
			}
		}
		return n == 2 && recB != 0
	})

	// The first record goes; the second still waits at the primary.
	p.aGo.Store(true)
	clk.Advance(10 * time.Minute)
	p.q.Kick()
	waitFor(t, "the primary's first record done", func() bool { return len(messages(t, p.s)) == 1 })
	// Whatever the primary owes the shadow server now, it gets.
	p.fetch(t, qS)

	pb, err := p.q.Message(recB)
	if err != nil || pb == nil || len(pb.Pending()) != 1 {
		t.Fatalf("the primary's record of b@ should still be pending: %+v %v", pb, err)
	}
	got, _ := qS.Message(m.ID)
	if got == nil || got.Rcpts[1].Status != Shadowed {
		t.Fatalf("b@ waits at the primary only: its shadow copy went with the discard of a@'s record (copy: %+v)", got)
	}

	// The second record's end owes the discard, which settles the copy.
	p.aGo.Store(false)
	p.allGo.Store(true)
	clk.Advance(10 * time.Minute)
	p.q.Kick()
	waitFor(t, "the primary's second record done", func() bool { return len(messages(t, p.s)) == 0 })
	if ids := p.fetch(t, qS); len(ids) != 1 {
		t.Fatalf("discards owed to the shadow server once both records are done: %v", ids)
	}
	waitFor(t, "the shadow copy settled", func() bool { got, err := qS.Message(m.ID); return got == nil || err != nil })
}

// The sibling on receipt: a copy on receipt is named by its org id for its
// primary, and a second copy with that org id from that primary is taken
// for a push repeated after its reply was lost — answered as kept, not
// stored — even when it carries other recipients: a second record of the
// primary's with the same org id (the message relayed to it again by a
// transport server without a shadow session, for the recipients it
// deferred the first time). The shadow server then holds no copy of the
// second record's recipients, and the primary, told the copy is kept,
// does not mark it held by itself only.
func TestReceiptCopyOfSecondRecordKept(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	first := receiptCopy(s, "a@c.example")
	if stored, err := q.SubmitShadowCopy(ctx, first, []byte(body), "hub-b", "127.0.0.2:25", "db-b"); err != nil || !stored {
		t.Fatalf("first copy: %v %v", stored, err)
	}
	second := msg(s, "a@example.org", "b@c.example")
	second.OrgID = first.OrgID
	stored, err := q.SubmitShadowCopy(ctx, second, []byte(body), "hub-b", "127.0.0.2:25", "db-b")
	if err != nil || !stored {
		t.Fatalf("second copy: %v %v", stored, err)
	}
	held := false
	for _, m := range messages(t, s) {
		for _, r := range m.Rcpts {
			held = held || r.Addr == "b@c.example" && r.Status == Shadowed
		}
	}
	if !held {
		t.Fatal("the second copy was answered kept, but no record here holds b@c.example")
	}
}

// F1 after a kill -9 of the shadow server: a discard it received while
// the message was in delivery is kept as an early discard; the crash
// loses the attempt's results, so Recover finds no copy to apply it to
// and it stays (bucket early). The next attempt relays the message to the
// same primary under the same shadow id; the primary, whose first record
// is gone, keeps a second one — and the commit of that attempt applies
// the left-over early discard to the copies it just made: the second
// record, still pending at the primary, has no shadow copy. One failure
// after the recovered one (the primary's disk) loses b@.
func TestLeftoverEarlyDiscardSettlesNewCopy(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	pathS := filepath.Join(t.TempDir(), "queue.db")
	sS, err := Open(pathS, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sS.Close()
	p := newAuditPrimary(t, clk, true)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p.q.Start(ctx)

	// The first run of the shadow server: a@ is relayed (b@ deferred at
	// RCPT), the primary delivers it at once, its discard arrives while
	// the attempt is still in delivery here — and the server is killed.
	var qS *Manager
	var crashedAt atomic.Value // the copy's path, once taken
	dS := DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		out := p.relayFirstDelivered(t, ctx, qS, m, rcpts)
		crashedAt.Store(crashCopy(t, pathS))
		return append(out, Result{Rcpt: rcpts[1], Outcome: Deferred, NextHop: "hub-b", Reply: "452 4.5.3 too many recipients"})
	})
	qS = NewManager(sS, dS, auditConfig(clk))
	ctx1, cancel1 := context.WithCancel(ctx)
	qS.Start(ctx1)
	m := submitAB(t, ctx1, clk, qS, sS)
	waitFor(t, "the killed attempt", func() bool { return crashedAt.Load() != nil })
	crashed := crashedAt.Load().(string)
	cancel1()
	qS.Wait()

	// The restart: Recover, then the attempt again — a@ and b@ to the
	// same primary, same shadow id; the primary keeps them as a new record.
	s2, err := Open(crashed, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	q2 := NewManager(s2, DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		return p.relay(t, ctx, m, rcpts...)
	}), auditConfig(clk))
	if _, _, err := q2.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	q2.Start(ctx)
	defer func() { cancel(); q2.Wait(); p.q.Wait() }()
	p.expectNewCopyKept(t, q2, m, "the restarted attempt's commit", "the early discard the killed attempt left")
}

// The sibling without a crash: an attempt whose results are lost because
// umbra's code panicked (held as poison) after the relay's 250. The
// discard fetched meanwhile must not wait for the attempt the operator's
// resume starts, which relays the message under the same shadow id.
func TestPoisonDropsSpentEarlyDiscard(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	sS, p := openTest(t), newAuditPrimary(t, clk, true)
	var qS *Manager
	var attempts atomic.Int32
	dS := DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		if attempts.Add(1) > 1 {
			return p.relay(t, ctx, m, rcpts...)
		}
		p.relayFirstDelivered(t, ctx, qS, m, rcpts)
		panic("deliverer bug after the relay's 250")
	})
	qS = NewManager(sS, dS, auditConfig(clk))
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); qS.Wait(); p.q.Wait() }()
	p.q.Start(ctx)
	qS.Start(ctx)
	m := submitAB(t, ctx, clk, qS, sS)
	waitFor(t, "the poisoned attempt", func() bool { got, _ := qS.Message(m.ID); return got != nil && got.State == Poison })
	if err := qS.ResumeMessage(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	p.expectNewCopyKept(t, qS, m, "the resumed attempt's commit", "the early discard the poisoned attempt left")
}

// The sibling of a failed commit: the results of the attempt cannot be
// committed (the disk full) and wait in memory (pendingresults.go); the
// discard kept aside for the copy they named is applied by their commit
// when it goes through, never to the next attempt's copy.
func TestStrandedDropsSpentEarlyDiscard(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	sS, p := openTest(t), newAuditPrimary(t, clk, true)
	var qS *Manager
	var restore atomic.Pointer[func()]
	var attempts atomic.Int32
	dS := DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		if attempts.Add(1) > 1 {
			return p.relay(t, ctx, m, rcpts...)
		}
		out := p.relayFirstDelivered(t, ctx, qS, m, rcpts)
		r := queuetest.BreakWrites(t, sS.db.Path()) // the disk fills before the results' commit
		restore.Store(&r)
		return append(out, Result{Rcpt: rcpts[1], Outcome: Deferred, NextHop: "hub-b", Reply: "452 4.5.3 too many recipients"})
	})
	qS = NewManager(sS, dS, auditConfig(clk))
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); qS.Wait(); p.q.Wait() }()
	p.q.Start(ctx)
	qS.Start(ctx)
	m := submitAB(t, ctx, clk, qS, sS)
	waitFor(t, "the results' commit to fail", func() bool { return qS.PendingResults() > 0 })
	(*restore.Load())() // room again
	clk.Advance(strandedRetry)
	qS.Kick()
	// The results kept in memory are committed (pendingresults.go); b@
	// is due after its retry step.
	waitFor(t, "the pending results' commit", func() bool { return qS.PendingResults() == 0 })
	clk.Advance(time.Minute)
	qS.Kick()
	p.expectNewCopyKept(t, qS, m, "the resumed attempt's commit", "the early discard the stranded attempt left")
}

// The sibling in the commit of results: the relay's 250 to the final dot
// was lost (the connection broke), so the result is a deferral while the
// primary committed — and delivered, and its discard came while the
// message was in delivery. The next attempt's copy under the same shadow
// id must not be settled by it.
func TestLostReplyDropsSpentEarlyDiscard(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	sS, p := openTest(t), newAuditPrimary(t, clk, true)
	var qS *Manager
	var attempts atomic.Int32
	dS := DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		if attempts.Add(1) > 1 {
			return p.relay(t, ctx, m, rcpts...)
		}
		p.relayFirstDelivered(t, ctx, qS, m, rcpts) // the primary commits; its 250 to the final dot is lost
		return []Result{{Rcpt: rcpts[0], Outcome: Deferred, NextHop: "hub-b", Reply: "451 4.4.2 connection lost"},
			{Rcpt: rcpts[1], Outcome: Deferred, NextHop: "hub-b", Reply: "452 4.5.3 too many recipients"}}
	})
	qS = NewManager(sS, dS, auditConfig(clk))
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); qS.Wait(); p.q.Wait() }()
	p.q.Start(ctx)
	qS.Start(ctx)
	m := submitAB(t, ctx, clk, qS, sS)
	waitFor(t, "the first attempt's commit", func() bool {
		got, _ := qS.Message(m.ID)
		return got != nil && got.State == Ready && got.Attempts == 1
	})
	clk.Advance(2 * time.Minute)
	qS.Kick()
	p.expectNewCopyKept(t, qS, m, "the resumed attempt's commit", "the early discard of the copy whose 250 was lost")
}

// F1's race on the shadow server: the primary's discard for a@'s record
// (the only record under the shadow id when it was written) is fetched
// while the next attempt here is in delivery, and that attempt then
// relays b@ to the same primary under the same id. Kept aside as an
// early discard, it must settle a@'s copy, made before the attempt —
// not b@'s, made by the attempt after the primary wrote the discard:
// b@'s record still waits there.
func TestEarlyDiscardSparesCopyOfLaterRecord(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	sS, p := openTest(t), newAuditPrimary(t, clk, false)
	var qS *Manager
	var attempts atomic.Int32
	dS := DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		if attempts.Add(1) == 1 {
			return append(p.relay(t, ctx, m, 0),
				Result{Rcpt: 1, Outcome: Deferred, NextHop: "hub-b", Reply: "452 4.5.3 too many recipients"})
		}
		// The second attempt: a@'s record finishes at the primary, its
		// discard is fetched while this attempt runs, then b@ goes.
		p.aGo.Store(true)
		clk.Advance(10 * time.Minute)
		p.q.Kick()
		waitFor(t, "the primary's record of a@ done", func() bool { return len(messages(t, p.s)) == 0 })
		if ids := p.fetch(t, qS); len(ids) != 1 {
			t.Errorf("discards owed for a@'s record: %v", ids)
		}
		var out []Result
		for _, i := range rcpts {
			out = append(out, p.relay(t, ctx, m, i)...)
		}
		return out
	})
	qS = NewManager(sS, dS, auditConfig(clk))
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); qS.Wait(); p.q.Wait() }()
	p.q.Start(ctx)
	qS.Start(ctx)
	m := submitAB(t, ctx, clk, qS, sS)
	waitFor(t, "a@ relayed to the primary", func() bool {
		got, _ := qS.Message(m.ID)
		return got != nil && got.State == Ready && got.Rcpts[0].Status == Shadowed
	})
	clk.Advance(2 * time.Minute)
	qS.Kick()
	waitFor(t, "the second attempt's commit", func() bool {
		got, err := qS.Message(m.ID)
		return err != nil || got == nil || attempts.Load() == 2 && got.State != Active && got.State != Ready
	})
	var recB ID
	for _, pm := range messages(t, p.s) {
		if pm.Rcpts[0].Addr == "b@c.example" && len(pm.Pending()) == 1 {
			recB = pm.ID
		}
	}
	if recB == 0 {
		t.Fatal("the primary's record of b@ should be pending")
	}
	got, _ := qS.Message(m.ID)
	if got == nil || got.Rcpts[1].Status != Shadowed {
		t.Fatalf("b@ waits at the primary only: the discard of a@'s record, kept aside during the attempt, settled b@'s new copy (copy: %+v)", got)
	}
	if got.Rcpts[0].Status != Relayed {
		t.Fatalf("a@'s copy should be settled by its discard: %+v", got.Rcpts[0])
	}
}
