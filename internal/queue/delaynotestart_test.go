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
	var taken atomic.Bool
	g := &planSeq{planned: make(chan ID, 4), release: make(chan struct{})}
	g.DelivererFunc = func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		if !taken.Load() {
			return p.relay(t, ctx, m, rcpts, "hub-b")
		}
		var out []Result
		for _, i := range rcpts {
			out = append(out, Result{Rcpt: i, Outcome: Deferred, NextHop: "hub-b", Reply: "451 4.4.1 no route"})
		}
		return out
	}
	qS := NewManager(sS, g, ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Minute}, DelayNotification: 4 * time.Hour})
	qS.Start(ctx)
	t.Cleanup(func() { cancel(); qS.Wait() })
	var ids []ID
	for range 2 {
		m := msg(sS, "s@example.org", "b@c.example")
		m.Arrived = clk.Now()
		if err := qS.Submit(ctx, m, []byte(body)); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	waitFor(t, "hub-a's copies", func() bool {
		for _, id := range ids {
			if got, err := qS.Message(id); err != nil || got.State != Shadow {
				return false
			}
		}
		return true
	})
	clk.Advance(2 * time.Hour)
	p.q.Kick()
	waitFor(t, "hub-b's delay DSNs", func() bool { return p.dsnsAt(t) == 2 })
	lines, _ := p.q.DiscardsDelayed("hub-a", 100)
	var notes []string
	for _, l := range lines {
		if cid, ok := strings.CutSuffix(l, DelayNoteSuffix); ok {
			notes = append(notes, cid)
		}
	}
	if len(notes) != 2 {
		t.Fatalf("hub-b's delay notes: %q, want two", lines)
	}
	taken.Store(true)
	g.armed.Store(true)
	if _, err := qS.Takeover("hub-b", "test"); err != nil {
		t.Fatal(err)
	}
	var first ID
	select {
	case first = <-g.planned:
	case <-time.After(30 * time.Second):
		t.Fatal("no attempt of the taken-over copies started")
	}
	second := ids[0]
	if second == first {
		second = ids[1]
	}
	if got, _ := qS.Message(second); got.State != Active {
		t.Skipf("the second copy is %v, not claimed with the first (claim batch): nothing shown", got.State)
	}
	// hub-b's notes, applied by a transaction held open after its
	// lookup of the attempts (the second's is not registered yet) until
	// the second's start reads the stored mark, or waits to read it
	// after every writer.
	reading := make(chan struct{}, 2)
	markRead := func(id ID) {
		if id == second {
			reading <- struct{}{}
		}
	}
	qS.sched.markReadHook.Store(&markRead)
	settled := func() { reading <- struct{}{} }
	sS.settledHook.Store(&settled)
	looked := make(chan struct{})
	noted := make(chan error, 1)
	go func() {
		once := sync.Once{}
		noted <- sS.Update(context.Background(), func(tx *Tx) error {
			for _, cid := range notes {
				if _, err := qS.applyDelayNoteTx(tx, "hub-b", cid); err != nil {
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
	clk.Advance(3 * time.Hour) // 5 h: past hub-a's own delay_notification
	close(g.release)
	if err := <-noted; err != nil {
		t.Fatal(err)
	}
	waitFor(t, "hub-a's attempts to defer", func() bool {
		for _, id := range ids {
			if got, err := qS.Message(id); err != nil || got.State != Ready {
				return false
			}
		}
		return true
	})
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
	var taken atomic.Bool
	started := make(chan struct{}, 4)
	release := make(chan struct{})
	dS := DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		if !taken.Load() {
			return p.relay(t, ctx, m, rcpts, "hub-b")
		}
		started <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
		}
		var out []Result
		for _, i := range rcpts {
			out = append(out, Result{Rcpt: i, Outcome: Deferred, NextHop: "hub-b", Reply: "451 4.4.1 no route"})
		}
		return out
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
	taken.Store(true)
	if _, err := qS.Takeover("hub-b", "test"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("hub-a's attempt of the taken-over copy did not start")
	}
	clk.Advance(2 * time.Hour)
	p.q.Kick()
	waitFor(t, "hub-b's delay DSN", func() bool { return p.dsnsAt(t) == 1 })
	// hub-b's note comes at 3 h 59 min, just before hub-a's own
	// delay_notification (a primary heard from after it would make the
	// takeover's notice none by the rule of takendelay.go alone), and
	// the end commits at 4 h 30 s, past it and before the grace of the
	// notice of a hung job (noticecommit.go): the end makes the notice.
	clk.Advance(time.Hour + 59*time.Minute)
	applied := make(chan []string, 1)
	hook := func(id ID) {
		if id == m.ID {
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
		got, err := qS.Message(m.ID)
		return err == nil && got.State == Ready
	})
	for _, dm := range messages(t, sS) {
		if dm.OwnDSN() {
			t.Errorf("hub-a made delay DSN %s: hub-b told the sender already (its note came after the end read the mark)", dm.ID)
		}
	}
	if got, _ := qS.Message(m.ID); !got.DelayNotified {
		t.Errorf("the copy after its attempt: DelayNotified false")
	}
}
