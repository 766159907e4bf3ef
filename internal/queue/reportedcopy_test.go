package queue

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/clock"
)

// reportedSetup: the shadow server hub-a (its own bbolt file) relays the
// recipients rcpts of one message from s@example.org to the primary
// hub-b in one shadow transaction (copyPrimary: f@ fails for good, a@ is
// relayed, every other defers; the DSN to s@ defers until dsnGo). It
// returns once hub-a holds the copy and hub-b has committed its first
// results.
func reportedSetup(t *testing.T, notify Notify, rcpts ...string) (p *copyPrimary, qS *Manager, m *Message, sid string) {
	t.Helper()
	return reportedSetupWith(t, ManagerConfig{}, notify, rcpts...)
}

// reportedSetupWith is reportedSetup with cfg for both managers.
func reportedSetupWith(t *testing.T, cfg ManagerConfig, notify Notify, rcpts ...string) (p *copyPrimary, qS *Manager, m *Message, sid string) {
	t.Helper()
	return reportedSetupMsg(t, cfg, notify, nil, rcpts...)
}

// reportedSetupMsg is reportedSetupWith with the message changed by mut
// (when not nil) before its submission.
func reportedSetupMsg(t *testing.T, cfg ManagerConfig, notify Notify, mut func(*Message), rcpts ...string) (p *copyPrimary, qS *Manager, m *Message, sid string) {
	t.Helper()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	sS, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sS.Close() })
	p = newCopyPrimaryWith(t, clk, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	p.q.Start(ctx)
	t.Cleanup(func() { cancel(); p.q.Wait() })
	ctxS, cancelS := context.WithCancel(ctx)
	dS := DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		return p.relay(t, ctx, m, rcpts, "hub-b")
	})
	cfg.Clock, cfg.RetrySchedule = clk, []time.Duration{time.Minute}
	qS = NewManager(sS, dS, cfg)
	qS.Start(ctxS)
	m = msg(sS, "s@example.org", rcpts...)
	m.Arrived = clk.Now()
	for i := range m.Rcpts {
		m.Rcpts[i].Notify = notify
	}
	if mut != nil {
		mut(m)
	}
	if err := qS.Submit(ctxS, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "hub-a's copy", func() bool {
		got, err := qS.Message(m.ID)
		return err == nil && got.State == Shadow
	})
	waitFor(t, "hub-b's first results", func() bool {
		for _, r := range rcpts {
			if r != "b@c.example" && p.pendingAt(t, r) {
				return false
			}
		}
		return true
	})
	// No attempt at hub-a from here on: a takeover's result is read as
	// committed.
	cancelS()
	qS.Wait()
	got, _ := qS.Message(m.ID)
	return p, qS, m, got.Rcpts[0].ShadowID
}

// dsnsAt counts the DSNs hub-b holds.
func (p *copyPrimary) dsnsAt(t *testing.T) int {
	n := 0
	for _, pm := range messages(t, p.s) {
		if pm.OwnDSN() {
			n++
		}
	}
	return n
}

// dsnsDeferred waits until every DSN hub-b holds had its first attempt
// and waits, deferred, for its next (Ready, one attempt made): a test
// that lets DSNs go and moves the clock past their retry must not do it
// while that first attempt is still running — it would end deferred to
// a retry after the moved clock, which never comes.
func (p *copyPrimary) dsnsDeferred(t *testing.T) {
	t.Helper()
	waitFor(t, "hub-b's DSNs deferred once", func() bool {
		n := 0
		for _, pm := range messages(t, p.s) {
			if pm.OwnDSN() {
				if pm.State != Ready || pm.Attempts < 1 {
					return false
				}
				n++
			}
		}
		return n > 0
	})
}

// gateDSNs holds every DSN's delivery at hub-b (dsnGate) until release
// is called — at the latest when the test ends, so that a test that
// fails while a DSN's attempt waits there does not leave it, and the
// manager's Wait, hanging until the package's timeout.
func (p *copyPrimary) gateDSNs(t *testing.T) (release func()) {
	gate := make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(gate) }) }
	t.Cleanup(release) // before the manager's own cleanup (last in, first run)
	p.dsnGate.Store(&gate)
	return release
}

// finishOriginals waits until hub-b holds nothing but DSNs. An original
// waiting Ready has the clock moved to its next attempt and the manager
// kicked: an attempt still running when the test last moved the clock
// ends deferred past it, and would otherwise never be due.
func (p *copyPrimary) finishOriginals(t *testing.T) {
	t.Helper()
	waitFor(t, "hub-b to finish the original", func() bool {
		done := true
		for _, x := range messages(t, p.s) {
			if x.OwnDSN() {
				continue
			}
			done = false
			if x.State == Ready {
				if now := p.clk.Now(); x.NextAttempt.After(now) {
					p.clk.Advance(x.NextAttempt.Sub(now))
				}
				p.q.Kick()
			}
		}
		return done
	})
}

// SR-4, SR-6, SR-11: a recipient the primary failed for good while
// another defers is reported by the primary's failure DSN; the copy at
// hub-a covers that DSN while it is on hub-b's disk alone, but once the
// DSN has left, the commit that saw it go names the recipient in a
// partial discard. A takeover after that does not try f@ again (its
// failure would make a second DSN): b@ alone is pending.
func TestFailureDSNLeftSettlesCopy(t *testing.T) {
	p, qS, m, sid := reportedSetup(t, 0, "f@c.example", "b@c.example")
	if n := p.dsnsAt(t); n != 1 {
		t.Fatalf("hub-b holds %d DSNs, want the failure DSN for f@", n)
	}
	// The DSN has not left: the copy still covers f@.
	if lines := p.fetchPartial(t, qS, "hub-b"); len(lines) != 0 {
		t.Fatalf("notifications while the DSN waits at hub-b: %q", lines)
	}
	if st := rcptStatuses(t, qS, m.ID); st[0] != Shadowed || st[1] != Shadowed {
		t.Fatalf("copy while the DSN waits: %v, want both shadowed", st)
	}
	p.dsnsDeferred(t)
	p.dsnGo.Store(true)
	p.clk.Advance(2 * time.Minute)
	p.q.Kick()
	waitFor(t, "the DSN to leave hub-b", func() bool { return p.dsnsAt(t) == 0 })
	if lines := p.fetchPartial(t, qS, "hub-b"); !slices.Equal(lines, []string{sid + " RCPT=f@c.example"}) {
		t.Fatalf("notifications after the DSN left: %q, want the partial discard of f@", lines)
	}
	if _, err := qS.Takeover("hub-b", "test"); err != nil {
		t.Fatal(err)
	}
	got, _ := qS.Message(m.ID)
	if pend := got.Pending(); len(pend) != 1 || got.Rcpts[pend[0]].Addr != "b@c.example" {
		t.Fatalf("taken over: pending %v of %+v, want b@ alone (f@ failed at hub-b, its DSN sent)", pend, got.Rcpts)
	}
}

// SR-4, SR-6, SR-11 (reread23 F3): the primary's failure DSN returns
// the whole message (RET=FULL) and is refused on the way back as too
// big; it is made again with the headers only under a new id
// (dsnrefit.go). The entry that ties the DSN to the copy's recipients
// moves to that id in the commit that makes it, so when the DSN made
// again leaves, f@ is named in a partial discard: a takeover after that
// does not fail f@ again and send the sender a second failure DSN.
func TestRefitFailureDSNLeftSettlesCopy(t *testing.T) {
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
	p.dsnTooBig.Store(true)
	p.dsnGo.Store(true) // the DSN made again, headers only, leaves
	p.clk.Advance(2 * time.Minute)
	p.q.Kick()
	waitFor(t, "the failure DSN, made again with the headers, to leave hub-b", func() bool {
		if _, err := p.q.Message(first); err == nil {
			return false
		}
		return p.dsnsAt(t) == 0
	})
	if lines := p.fetchPartial(t, qS, "hub-b"); !slices.Equal(lines, []string{sid + " RCPT=f@c.example"}) {
		t.Fatalf("notifications after the DSN made again left: %q, want the partial discard of f@", lines)
	}
	_ = p.s.View(func(tx *Tx) error {
		if b := tx.tx.Bucket(bucketDSNReported); b != nil {
			if k, _ := b.Cursor().First(); k != nil {
				t.Errorf("an entry in dsnreported is left after the DSN left: %x", k)
			}
		}
		return nil
	})
	if _, err := qS.Takeover("hub-b", "test"); err != nil {
		t.Fatal(err)
	}
	got, _ := qS.Message(m.ID)
	if pend := got.Pending(); len(pend) != 1 || got.Rcpts[pend[0]].Addr != "b@c.example" {
		t.Fatalf("taken over: pending %v of %+v, want b@ alone (f@ failed at hub-b, its DSN sent)", pend, got.Rcpts)
	}
}

// SR-4, SR-11: a recipient relayed by the primary whose sender asked for
// a success DSN is done as soon as the commit that relayed it, as with
// the full discard (rt36 F3: the success DSN is marked held here only and
// copied, not covered by the copy): the partial discard names it at once,
// and a takeover does not send it again.
func TestSuccessDSNRecipientSettledAtOnce(t *testing.T) {
	p, qS, m, sid := reportedSetup(t, NotifySuccess|NotifyFailure, "a@c.example", "b@c.example")
	if lines := p.fetchPartial(t, qS, "hub-b"); !slices.Equal(lines, []string{sid + " RCPT=a@c.example"}) {
		t.Fatalf("notifications: %q, want the partial discard of a@", lines)
	}
	if _, err := qS.Takeover("hub-b", "test"); err != nil {
		t.Fatal(err)
	}
	got, _ := qS.Message(m.ID)
	if pend := got.Pending(); len(pend) != 1 || got.Rcpts[pend[0]].Addr != "b@c.example" {
		t.Fatalf("taken over: pending %v of %+v, want b@ alone (a@ relayed by hub-b)", pend, got.Rcpts)
	}
}

// A failure DSN that does not leave — here an operator removes it — owes
// nothing: the copy keeps covering f@ (a takeover reports the failure,
// the sender having been told nothing), and the DSN's entry goes with
// its record.
func TestFailureDSNRemovedKeepsCopy(t *testing.T) {
	p, qS, m, _ := reportedSetup(t, 0, "f@c.example", "b@c.example")
	var dsn ID
	for _, pm := range messages(t, p.s) {
		if pm.OwnDSN() {
			dsn = pm.ID
		}
	}
	if dsn == 0 {
		t.Fatal("no failure DSN at hub-b")
	}
	var err error
	waitFor(t, "the DSN's removal (refused while its attempt runs)", func() bool {
		err = p.q.RemoveMessage(context.Background(), dsn, false)
		return err == nil || !strings.Contains(err.Error(), "being delivered")
	})
	if err != nil {
		t.Fatal(err)
	}
	if lines := p.fetchPartial(t, qS, "hub-b"); len(lines) != 0 {
		t.Fatalf("notifications after the DSN was removed: %q", lines)
	}
	if st := rcptStatuses(t, qS, m.ID); st[0] != Shadowed || st[1] != Shadowed {
		t.Fatalf("copy after the DSN was removed: %v, want both shadowed", st)
	}
	_ = p.s.View(func(tx *Tx) error {
		if _, _, _, ok := tx.reportedOf(dsn); ok {
			t.Error("the removed DSN's entry in dsnreported is left")
		}
		return nil
	})
}

// The original's last recipient and its failure DSN both leave, in
// either order: the full discard settles the copy (a partial discard the
// DSN's departure wrote before it goes with it, and one after it is not
// written), so the shadow server is owed the full discard alone.
func TestFailureDSNLeftAfterFullDiscardOwesNothing(t *testing.T) {
	p, qS, m, sid := reportedSetup(t, 0, "f@c.example", "b@c.example")
	p.dsnsDeferred(t)
	p.allGo.Store(true) // b@ relayed; the DSN to s@ too (allGo)
	p.clk.Advance(2 * time.Minute)
	p.q.Kick()
	waitFor(t, "hub-b to finish the original and its DSN", func() bool {
		return len(messages(t, p.s)) == 0
	})
	if lines := p.fetchPartial(t, qS, "hub-b"); !slices.Equal(lines, []string{sid}) {
		t.Fatalf("notifications: %q, want the full discard alone", lines)
	}
	if _, err := qS.Message(m.ID); err == nil {
		t.Fatal("the full discard left the copy")
	}
}

// fetchDelayed is a version-17 session's query: full and partial
// notifications with the delay notes, saved as a contact, then
// acknowledged.
func (p *copyPrimary) fetchDelayed(t *testing.T, q *Manager) []string {
	lines, ack := p.q.DiscardsDelayed("hub-a", 100)
	if _, err := q.ShadowContact("hub-b", "db-b", lines); err != nil {
		t.Error(err)
	}
	ack()
	return lines
}

// delayedSetup: b@ defers at hub-b past delay_notification, so hub-b's
// next attempt makes the delay DSN to s@ (which defers: it stays at
// hub-b).
func delayedSetup(t *testing.T) (p *copyPrimary, qS *Manager, m *Message, sid string) {
	p, qS, m, sid = reportedSetupWith(t, ManagerConfig{DelayNotification: time.Hour}, 0, "b@c.example")
	p.clk.Advance(2 * time.Hour)
	p.q.Kick()
	waitFor(t, "hub-b's delay DSN", func() bool { return p.dsnsAt(t) == 1 })
	return p, qS, m, sid
}

// Q-3, SR-6: the primary sent the message's delay DSN; a shadow server
// of version 17 is told so with its discards ("<id> DELAYED") and marks
// its copy delay-notified. Here the primary's delay_notification (1 h)
// is shorter than the shadow server's (4 h): the primary made its notice
// at 2 h and was last heard from then, before the shadow server's own
// due time, so the rule of takendelay.go alone (a primary heard from
// after the notice was due made it) let the shadow server, taking the
// copy over, make a second one at its next attempt after 4 h.
func TestDelayNoteReachesHolder(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	sS, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sS.Close() })
	p := newCopyPrimaryWith(t, clk, ManagerConfig{DelayNotification: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	p.q.Start(ctx)
	t.Cleanup(func() { cancel(); p.q.Wait() })
	var deferS atomic.Bool // hub-a's attempts defer (after the takeover: hub-b is gone)
	dS := DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		if deferS.Load() {
			var out []Result
			for _, i := range rcpts {
				out = append(out, Result{Rcpt: i, Outcome: Deferred, NextHop: "hub-b", Reply: "451 4.4.1 no route"})
			}
			return out
		}
		return p.relay(t, ctx, m, rcpts, "hub-b")
	})
	qS := NewManager(sS, dS, ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Minute}, DelayNotification: 4 * time.Hour})
	qS.Start(ctx)
	t.Cleanup(func() { cancel(); qS.Wait() })
	m := msg(sS, "s@example.org", "b@c.example")
	m.Arrived = clk.Now()
	if err := qS.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "hub-a's copy", func() bool {
		got, err := qS.Message(m.ID)
		return err == nil && got.State == Shadow
	})
	got, _ := qS.Message(m.ID)
	sid := got.Rcpts[0].ShadowID
	clk.Advance(2 * time.Hour)
	p.q.Kick()
	waitFor(t, "hub-b's delay DSN", func() bool { return p.dsnsAt(t) == 1 })
	if lines := p.fetchDelayed(t, qS); !slices.Equal(lines, []string{sid + " DELAYED"}) {
		t.Fatalf("notifications: %q, want the delay note of the copy", lines)
	}
	got, _ = qS.Message(m.ID)
	if !got.DelayNotified || got.Rcpts[0].Status != Shadowed {
		t.Fatalf("copy after the delay note: delay notified %v, %v; want notified and still shadowed", got.DelayNotified, got.Rcpts[0].Status)
	}
	if again, _ := p.q.DiscardsDelayed("hub-a", 100); len(again) != 0 {
		t.Fatalf("acknowledged delay note sent again: %q", again)
	}
	deferS.Store(true)
	if _, err := qS.Takeover("hub-b", "test"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "hub-a's first attempt after the takeover", func() bool {
		got, err := qS.Message(m.ID)
		return err == nil && got.State == Ready && got.Attempts >= 1
	})
	got, _ = qS.Message(m.ID)
	n := got.Attempts
	clk.Advance(3 * time.Hour) // 5 h: past hub-a's own delay_notification
	qS.Kick()
	waitFor(t, "hub-a's attempt after its delay_notification", func() bool {
		got, err := qS.Message(m.ID)
		return err == nil && got.State == Ready && got.Attempts > n
	})
	for _, dm := range messages(t, sS) {
		if dm.OwnDSN() {
			t.Fatalf("hub-a made DSN %s after the takeover: the sender was told of the delay by hub-b already", dm.ID)
		}
	}
}

// A shadow server below version 17 (PARTIAL, or PARTIAL TAKEOVER) is
// not sent the delay note: its replies are those of before, and the
// note waits for the full discard, which supersedes it.
func TestDelayNoteNotSentToOlderPeer(t *testing.T) {
	p, qS, m, _ := delayedSetup(t)
	if lines := p.fetchPartial(t, qS, "hub-b"); len(lines) != 0 {
		t.Fatalf("a version-9 query got %q", lines)
	}
	if lines, _ := p.q.DiscardsHandBack("hub-a", 100); len(lines) != 0 {
		t.Fatalf("a version-11 query got %q", lines)
	}
	if got, _ := qS.Message(m.ID); got.DelayNotified {
		t.Fatal("the copy at an older peer was marked delay-notified")
	}
	p.allGo.Store(true)
	p.clk.Advance(2 * time.Minute)
	p.q.Kick()
	waitFor(t, "hub-b's full discard", func() bool {
		ids, _ := p.q.Discards("hub-a", 10)
		return len(ids) == 1
	})
	if lines, _ := p.q.DiscardsDelayed("hub-a", 100); len(lines) != 1 {
		t.Fatalf("after the full discard: %q, want it alone (the delay note superseded)", lines)
	}
}

// Q-3, SR-6, SR-15: a stopping primary hands its delay notes over with
// the partial discards (DiscardsPartialDelayed, pushed as XDISCARD
// "<id> DELAYED" to a shadow server of version 19): the shadow server
// applies a pushed note as a fetched one — its copy marked notified, so
// a takeover sends no second delay DSN — and the primary, once the
// server answered, owes it no more.
func TestPushedDelayNoteMarksCopy(t *testing.T) {
	p, qS, m, sid := delayedSetup(t)
	lines, ack := p.q.DiscardsPartialDelayed("hub-a", 100)
	if !slices.Equal(lines, []string{sid + " DELAYED"}) {
		t.Fatalf("the stop's hand-over: %q, want the delay note of the copy", lines)
	}
	if old, _ := p.q.DiscardsPartial("hub-a", 100); len(old) != 0 {
		t.Fatalf("a hand-over to a server below 19 got %q", old)
	}
	res, err := qS.ShadowPushed("hub-b", "db-b", lines)
	if err != nil {
		t.Fatal(err)
	}
	ack()
	if res.Discarded != 1 {
		t.Errorf("pushed delay note counted %d, want 1 applied", res.Discarded)
	}
	got, _ := qS.Message(m.ID)
	if !got.DelayNotified || got.Rcpts[0].Status != Shadowed {
		t.Fatalf("copy after the pushed delay note: delay notified %v, %v; want notified and still shadowed", got.DelayNotified, got.Rcpts[0].Status)
	}
	if servers, err := p.q.OwedDiscardServers(); err != nil || len(servers) != 0 {
		t.Fatalf("after the hand-over hub-b owes %q (%v)", servers, err)
	}
}
