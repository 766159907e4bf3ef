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

// planSplit is planSeq whose plans, once armed, give each recipient a
// job of its own (two destinations): the first job's results are then
// committed by the job (commitJob) while the second still runs.
type planSplit struct{ planSeq }

func (g *planSplit) Plan(ctx context.Context, m *Message, rcpts []int) []Job {
	g.planSeq.Plan(ctx, m, rcpts)
	if !g.armed.Load() {
		return nil
	}
	var jobs []Job
	for _, i := range rcpts {
		jobs = append(jobs, Job{Dest: "twojobs:" + m.Rcpts[i].Addr, Queue: "twojobs", Rcpts: []int{i}})
	}
	return jobs
}

// Q-3, SR-6, SR-11. TestDelayNoteCommittedWhileStartReadsMark alone
// would pass with start's read a plain View: the note start missed is
// then caught by the end's commit (noteFirst), since nothing of the
// attempt writes the record in between. What start's read is for is what runs between: a job's own commit (commitJob)
// writes the record with the attempt's mark (m.DelayNotified ||
// a.noticed), which, start having missed the note, overwrites the
// note's stored mark; the end then finds no mark (noteFirst false) and
// makes its own delay DSN — two. The same scenario as that test, with
// two recipients in two jobs: the first relayed (committed by its job
// while the second runs), the second deferred.
func TestDelayNoteMissedByStartOverwrittenByJobCommit(t *testing.T) {
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
	g := &planSplit{planSeq{planned: make(chan ID, 4), release: make(chan struct{})}}
	g.DelivererFunc = func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		if !taken.Load() {
			return p.relay(t, ctx, m, rcpts, "hub-b")
		}
		var out []Result
		for _, i := range rcpts {
			if i == 0 {
				out = append(out, Result{Rcpt: i, Outcome: RelayedOK, NextHop: "mx.c.example", Reply: "250 ok"})
				continue
			}
			// The second job ends once the first's own commit wrote
			// the record.
			deadline := time.Now().Add(10 * time.Second)
			for time.Now().Before(deadline) {
				var st RcptStatus
				_ = sS.View(func(tx *Tx) error {
					if got, err := tx.Get(m.ID); err == nil {
						st = got.Rcpts[0].Status
					}
					return nil
				})
				if st == Relayed {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			out = append(out, Result{Rcpt: i, Outcome: Deferred, NextHop: "hub-b", Reply: "451 4.4.1 no route"})
		}
		return out
	}
	qS := NewManager(sS, g, ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Minute}, DelayNotification: 4 * time.Hour})
	qS.Start(ctx)
	t.Cleanup(func() { cancel(); qS.Wait() })
	var ids []ID
	for range 2 {
		m := msg(sS, "s@example.org", "b@c.example", "d@c.example")
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
			t.Errorf("hub-a made delay DSN %s (reporting on %s): hub-b told the sender already", dm.ID, dm.ReportOn)
		}
	}
	for _, id := range ids {
		got, _ := qS.Message(id)
		if !got.DelayNotified {
			t.Errorf("copy %s after its attempt: DelayNotified false (the note's mark overwritten)", id)
		}
		if got.Rcpts[0].Status != Relayed {
			t.Errorf("copy %s: first recipient %v, want Relayed by its job", id, got.Rcpts[0].Status)
		}
	}
}
