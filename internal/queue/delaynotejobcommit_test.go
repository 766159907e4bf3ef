package queue

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
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
	r := newDelayNoteRig(t)
	sS := r.sS
	var taken atomic.Bool
	g := &planSplit{planSeq{planned: make(chan ID, 4), release: make(chan struct{})}}
	g.DelivererFunc = func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		if !taken.Load() {
			return r.p.relay(t, ctx, m, rcpts, "hub-b")
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
	r.startHubA(t, g)
	qS := r.qS
	ids := r.submitCopies(t, 2, "b@c.example", "d@c.example")
	r.primaryDelayDSNs(t, 2)
	notes := r.delayNotes(t)
	second := r.takeOverTwo(t, &taken, &g.armed, g.planned, ids)
	r.noteWhileStartReads(t, second, notes, g.release)
	r.waitAllReady(t, "hub-a's attempts to defer", ids...)
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
