package queue

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/clock"
)

// planSeq is a deliverer whose Plan, once armed, reports every message
// it plans (planned) and holds the first until released.
type planSeq struct {
	DelivererFunc
	armed   atomic.Bool
	once    sync.Once
	planned chan ID
	release chan struct{}
}

func (g *planSeq) Plan(ctx context.Context, m *Message, rcpts []int) []Job {
	if g.armed.Load() {
		g.planned <- m.ID
		g.once.Do(func() { <-g.release })
	}
	return nil
}

// delayNoteRig is a primary, hub-b (p: delay_notification 1 h), and
// its shadow server, hub-a (sS and, once startHubA ran, qS:
// delay_notification 4 h, retry every minute), on one fake clock and
// one context, stopped when the test ends.
type delayNoteRig struct {
	clk    *clock.Fake
	p      *copyPrimary
	sS     *Store
	qS     *Manager
	ctx    context.Context
	cancel context.CancelFunc
}

// newDelayNoteRig opens hub-a's store and starts hub-b.
func newDelayNoteRig(t *testing.T) *delayNoteRig {
	t.Helper()
	r := &delayNoteRig{clk: clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)), sS: openTest(t)}
	r.p = newCopyPrimaryWith(t, r.clk, ManagerConfig{DelayNotification: time.Hour})
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.p.q.Start(r.ctx)
	t.Cleanup(func() { r.cancel(); r.p.q.Wait() })
	return r
}

// startHubA starts hub-a delivering with d.
func (r *delayNoteRig) startHubA(t *testing.T, d Deliverer) {
	r.qS = NewManager(r.sS, d, ManagerConfig{Clock: r.clk, RetrySchedule: []time.Duration{time.Minute}, DelayNotification: 4 * time.Hour})
	r.qS.Start(r.ctx)
	t.Cleanup(func() { r.cancel(); r.qS.Wait() })
}

// deferredNoRoute is hub-a's result after the takeover: every
// recipient deferred, hub-b out of reach.
func deferredNoRoute(rcpts []int) []Result {
	var out []Result
	for _, i := range rcpts {
		out = append(out, Result{Rcpt: i, Outcome: Deferred, NextHop: "hub-b", Reply: "451 4.4.1 no route"})
	}
	return out
}

// submitCopies submits n messages from s@example.org to rcpts, arrived
// now, and waits until hub-a holds each as a copy of hub-b's (Shadow).
func (r *delayNoteRig) submitCopies(t *testing.T, n int, rcpts ...string) []ID {
	t.Helper()
	var ids []ID
	for range n {
		m := msg(r.sS, "s@example.org", rcpts...)
		m.Arrived = r.clk.Now()
		if err := r.qS.Submit(r.ctx, m, []byte(body)); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	what := "hub-a's copies"
	if n == 1 {
		what = "hub-a's copy"
	}
	waitFor(t, what, func() bool {
		for _, id := range ids {
			if got, err := r.qS.Message(id); err != nil || got.State != Shadow {
				return false
			}
		}
		return true
	})
	return ids
}

// primaryDelayDSNs moves the clock 2 h, past hub-b's delay_notification,
// and waits for hub-b's n delay DSNs.
func (r *delayNoteRig) primaryDelayDSNs(t *testing.T, n int) {
	t.Helper()
	r.clk.Advance(2 * time.Hour)
	r.p.q.Kick()
	what := "hub-b's delay DSNs"
	if n == 1 {
		what = "hub-b's delay DSN"
	}
	waitFor(t, what, func() bool { return r.p.dsnsAt(t) == n })
}

// delayNotes is the copy ids of hub-b's two delay notes for hub-a,
// read from hub-b's notifications (not applied).
func (r *delayNoteRig) delayNotes(t *testing.T) []string {
	t.Helper()
	lines, _ := r.p.q.DiscardsDelayed("hub-a", 100)
	var notes []string
	for _, l := range lines {
		if cid, ok := strings.CutSuffix(l, DelayNoteSuffix); ok {
			notes = append(notes, cid)
		}
	}
	if len(notes) != 2 {
		t.Fatalf("hub-b's delay notes: %q, want two", lines)
	}
	return notes
}

// takeOverTwo sets taken and armed, takes hub-b's copies ids (two) over
// and waits for the plan of the first attempt (first); it returns the
// other copy, and skips the test unless that one was claimed with the
// first and waits, Active, for its start.
func (r *delayNoteRig) takeOverTwo(t *testing.T, taken, armed *atomic.Bool, first <-chan ID, ids []ID) ID {
	t.Helper()
	taken.Store(true)
	armed.Store(true)
	if _, err := r.qS.Takeover("hub-b", "test"); err != nil {
		t.Fatal(err)
	}
	var f ID
	select {
	case f = <-first:
	case <-time.After(30 * time.Second):
		t.Fatal("no attempt of the taken-over copies started")
	}
	second := ids[0]
	if second == f {
		second = ids[1]
	}
	if got, _ := r.qS.Message(second); got.State != Active {
		t.Skipf("the second copy is %v, not claimed with the first (claim batch): nothing shown", got.State)
	}
	return second
}

// noteWhileStartReads applies hub-b's notes in a transaction held open
// after its lookup of the attempts (second's not registered yet) until
// second's start reads the stored mark, or waits to read it after every
// writer; meanwhile the clock goes to 5 h, past hub-a's own
// delay_notification, and release lets the first attempt's Plan go.
func (r *delayNoteRig) noteWhileStartReads(t *testing.T, second ID, notes []string, release chan struct{}) {
	t.Helper()
	reading := make(chan struct{}, 2)
	markRead := func(id ID) {
		if id == second {
			reading <- struct{}{}
		}
	}
	r.qS.sched.markReadHook.Store(&markRead)
	settled := func() { reading <- struct{}{} }
	r.sS.settledHook.Store(&settled)
	looked := make(chan struct{})
	noted := make(chan error, 1)
	go func() {
		once := sync.Once{}
		noted <- r.sS.Update(context.Background(), func(tx *Tx) error {
			for _, cid := range notes {
				if _, err := r.qS.applyDelayNoteTx(tx, "hub-b", cid); err != nil {
					return err
				}
			}
			once.Do(func() {
				close(looked)
				select {
				case <-reading:
				case <-time.After(30 * time.Second):
					t.Error("the second copy's start did not read its delay mark while the note's transaction was open")
				}
			})
			return nil
		})
	}()
	<-looked
	r.clk.Advance(3 * time.Hour) // 5 h: past hub-a's own delay_notification
	close(release)
	if err := <-noted; err != nil {
		t.Fatal(err)
	}
}

// waitAllReady waits until every copy of ids is back in the time index
// (its attempt deferred).
func (r *delayNoteRig) waitAllReady(t *testing.T, what string, ids ...ID) {
	t.Helper()
	waitFor(t, what, func() bool {
		for _, id := range ids {
			if got, err := r.qS.Message(id); err != nil || got.State != Ready {
				return false
			}
		}
		return true
	})
}

// Q-3, SR-6, SR-11 (note26, "two delay DSNs within one commit's
// window"): hub-a takes over two copies from hub-b, both claimed in one
// claim; the second waits, Active, while the first starts. hub-b's delay
// note is applied by a write transaction that looks the second's
// attempt up before start registered it (inDelivery) and commits after
// start's read of the stored mark began: the note marks the record as
// stored only, the read sees the record as it was, and the attempt,
// past hub-a's own delay_notification, makes its own delay DSN. The
// note's transaction is held open here between its lookup and its
// commit (no sleeps): until the second's Plan, which comes after
// start's read.
func TestDelayNoteCommittedWhileStartReadsMark(t *testing.T) {
	r := newDelayNoteRig(t)
	var taken atomic.Bool
	g := &planSeq{planned: make(chan ID, 4), release: make(chan struct{})}
	g.DelivererFunc = func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		if !taken.Load() {
			return r.p.relay(t, ctx, m, rcpts, "hub-b")
		}
		return deferredNoRoute(rcpts)
	}
	r.startHubA(t, g)
	qS, sS := r.qS, r.sS
	ids := r.submitCopies(t, 2, "b@c.example")
	r.primaryDelayDSNs(t, 2)
	notes := r.delayNotes(t)
	second := r.takeOverTwo(t, &taken, &g.armed, g.planned, ids)
	// hub-b's notes, applied by a transaction held open after its
	// lookup of the attempts (the second's is not registered yet) until
	// the second's start reads the stored mark, or waits to read it
	// after every writer.
	r.noteWhileStartReads(t, second, notes, g.release)
	r.waitAllReady(t, "hub-a's attempts to defer", ids...)
	for _, dm := range messages(t, sS) {
		if dm.OwnDSN() {
			t.Errorf("hub-a made delay DSN %s: hub-b told the sender already (its note committed while the start read the mark)", dm.ID)
		}
	}
	if got, _ := qS.Message(second); !got.DelayNotified {
		t.Errorf("the second copy after its attempt: DelayNotified false (the note's mark overwritten)")
	}
}

// Q-3, SR-6, SR-11 (delaynote.go's "what remains"): hub-a's attempt of
// a copy it took over from hub-b ends past hub-a's own
// delay_notification; hub-b's delay note is applied after the end read
// the attempt's mark (complete: a.noticed) and before the end's commit.
// The end, deciding from what it read, made its own delay DSN: two.
// The note is applied here at that very point (endReadHook).
func TestDelayNoteAfterEndReadTheMark(t *testing.T) {
	r := newDelayNoteRig(t)
	var taken atomic.Bool
	started := make(chan struct{}, 4)
	release := make(chan struct{})
	r.startHubA(t, DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		if !taken.Load() {
			return r.p.relay(t, ctx, m, rcpts, "hub-b")
		}
		started <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
		}
		return deferredNoRoute(rcpts)
	}))
	clk, p, sS, qS := r.clk, r.p, r.sS, r.qS
	mid := r.submitCopies(t, 1, "b@c.example")[0]
	taken.Store(true)
	if _, err := qS.Takeover("hub-b", "test"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("hub-a's attempt of the taken-over copy did not start")
	}
	r.primaryDelayDSNs(t, 1)
	// hub-b's note comes at 3 h 59 min, just before hub-a's own
	// delay_notification (a primary heard from after it would make the
	// takeover's notice none by the rule of takendelay.go alone), and
	// the end commits at 4 h 30 s, past it and before the grace of the
	// notice of a hung job (noticecommit.go): the end makes the notice.
	clk.Advance(time.Hour + 59*time.Minute)
	applied := make(chan []string, 1)
	hook := func(id ID) {
		if id == mid {
			lines := p.fetchDelayed(t, qS)
			clk.Advance(time.Minute + 30*time.Second)
			applied <- lines
		}
	}
	qS.sched.endReadHook.Store(&hook)
	close(release)
	select {
	case lines := <-applied:
		if len(lines) != 1 || !strings.HasSuffix(lines[0], DelayNoteSuffix) {
			t.Fatalf("notifications: %q, want the delay note of the copy", lines)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("hub-a's attempt did not end")
	}
	waitFor(t, "hub-a's attempt to defer", func() bool {
		got, err := qS.Message(mid)
		return err == nil && got.State == Ready
	})
	for _, dm := range messages(t, sS) {
		if dm.OwnDSN() {
			t.Errorf("hub-a made delay DSN %s: hub-b told the sender already (its note came after the end read the mark)", dm.ID)
		}
	}
	if got, _ := qS.Message(mid); !got.DelayNotified {
		t.Errorf("the copy after its attempt: DelayNotified false")
	}
}
