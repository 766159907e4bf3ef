package queue

import (
	"context"
	"fmt"
	"runtime/debug"
	"slices"
	"sync/atomic"
	"time"

	"umbra/internal/panicline"
)

// What a panic in the queue's own goroutines does (a defect of umbra's).
// Every goroutine the manager starts for the scheduler, an attempt, a
// job or a task recovers it: the daemon serves on, its receive sessions
// with it. Each panic is counted (ManagerConfig.Panics:
// umbra_queue_panics_total{part}) and logged at ERROR as "queue
// panicked" with the part, the message (msg_id) or destination, the
// panic and its stack by panicline's rule (one line a minute, the next
// saying suppressed=N). What it leaves, by part:
//   - loop: the scheduler's loop, or the stall guard's tick — run again
//     a second later (nothing of a message is in them but the claim's
//     transaction, which the panic rolled back);
//   - attempt: an attempt's end (complete) — the results its jobs
//     handed on (relayed, delivered, shadowed: jobCommittable) are
//     committed as a job's own commit does (commitJob), and the message,
//     still Active, is stranded as a crashed one (stranded.go): Ready
//     and due at the next retry of stranded messages, its crash counted
//     (CrashCount, PoisonThreshold: a panic that comes back at every
//     attempt ends in the poison queue, not in a loop), marked as at
//     Recover (markRepeat). Never lost, never stuck Active; handed on
//     twice only where a crash would have been (a result not committed
//     by a job's commit: a success DSN asked for) — the crash argument
//     (doc.go) covers it;
//   - job: a delivery job's own code around the deliverer (its body's
//     load, its notice's timer, its report) — the job ends with no
//     result if it had not reported: its slot goes back and its
//     recipients are deferred "no result from delivery", the attempt
//     counted, tried again at the next retry step (noResult); a panic
//     inside the deliverer's call itself is the poison (deliver: a
//     Deliverer that does not recover its own, package delivery does
//     per group);
//   - dead: the answers of a dead destination's or a throttled waiting
//     job (answerDead, answerWaitingDue) — the jobs not answered yet end
//     so too (noResult);
//   - task: a client's task (a heartbeat, a watch session) — it ends
//     with a local fault (no failure of the peer's: taskDone), its slot
//     back; the client starts it again at its next step;
//   - notice: a delay notice committed beside a running job
//     (noticecommit.go) — not made then: the attempt's end makes it;
//   - expiry: the expiry's cut of a running attempt (expirycut.go) —
//     not cut: the attempt ends as its session does;
//   - stall: a stall's round (stallguard.go) — it ends as a round that
//     returned: attempts start again.
const (
	PanicLoop    = "loop"
	PanicAttempt = "attempt"
	PanicJob     = "job"
	PanicDead    = "dead"
	PanicTask    = "task"
	PanicNotice  = "notice"
	PanicExpiry  = "expiry"
	PanicStall   = "stall"
)

// PanicParts are the values of the part label.
var PanicParts = []string{PanicLoop, PanicAttempt, PanicJob, PanicDead, PanicTask, PanicNotice, PanicExpiry, PanicStall}

// PanicObserver counts the recovered panics of the queue's goroutines
// by part (PanicParts).
type PanicObserver interface {
	QueuePanic(part string)
}

// panicState is the manager's record of recovered panics.
type panicState struct {
	gate panicline.Gate
	// hook, when set (tests only), is called at the start of the work of
	// each part, which it may make panic.
	hook atomic.Pointer[func(part string)]
}

// mayPanic calls the test hook for part.
func (q *Manager) mayPanic(part string) {
	if f := q.panics.hook.Load(); f != nil {
		(*f)(part)
	}
}

// recovered counts and logs the panic value r of part; attrs name what
// it was about (msg_id, next_hop).
func (q *Manager) recovered(part string, r any, attrs ...any) {
	stack := debug.Stack()
	if q.cfg.Panics != nil {
		q.cfg.Panics.QueuePanic(part)
	}
	attrs = append(attrs, "part", part)
	line, ok := q.panics.gate.Attrs(q.clk.Now(), r, stack)
	if !ok {
		return
	}
	q.log.Error("queue panicked", append(attrs, line...)...)
}

// recoverLogged, deferred by a goroutine's work whose end leaves
// nothing to settle (the notice's timer, the expiry's), ends it at a
// panic.
func (q *Manager) recoverLogged(part string, attrs ...any) {
	if r := recover(); r != nil {
		q.recovered(part, r, attrs...)
	}
}

// recoverEnd, deferred by complete, settles an attempt whose end
// panicked (see above, "attempt").
func (q *Manager) recoverEnd(ctx context.Context, a *attempt) {
	r := recover()
	if r == nil {
		return
	}
	id := a.m.ID
	q.recovered(PanicAttempt, r, "msg_id", id.String())
	func() {
		defer q.recoverLogged(PanicAttempt, "msg_id", id.String())
		// The panic may have left a lock of the attempt held (an
		// unlock not deferred): then nothing of it is read.
		if !a.cmu.TryLock() {
			return
		}
		a.ending = false
		a.cmu.Unlock()
		if !a.mu.TryLock() {
			return
		}
		res := slices.Clone(a.results)
		a.mu.Unlock()
		q.commitJob(ctx, a, res)
	}()
	q.strandCrashed(id)
}

// recoverAnswers, deferred by the goroutines that answer waiting jobs
// without a connection (answerDead, answerWaitingDue's), reports the
// jobs from *next on with no result when the answers panicked.
func (q *Manager) recoverAnswers(ctx context.Context, jobs []*job, next *int) {
	r := recover()
	if r == nil {
		return
	}
	attrs := []any{}
	if *next < len(jobs) {
		attrs = append(attrs, "msg_id", jobs[*next].a.m.ID.String())
	}
	q.recovered(PanicDead, r, attrs...)
	for _, jb := range jobs[*next:] {
		noResult(jb)
		q.report(ctx, jb, nil, nil)
	}
}

// noResult marks the recipients of jb, whose job a panic ended before
// it reported, attempted with no result: finish defers them ("no result
// from delivery") and counts the attempt, so they are tried again at
// the next retry step — not due at once as an attempt no job of which
// ran (a stop's), which a panic that comes back each time would turn
// into a loop of claims. The attempt's lock may be what the panic left
// held: then nothing is marked.
func noResult(jb *job) {
	a := jb.a
	if !a.mu.TryLock() {
		return
	}
	a.ran = true
	a.attempted = append(a.attempted, jb.rcpts...)
	a.mu.Unlock()
}

// taskPanic is a task's recovered panic as its error: this server's
// own fault (localFault), no failure of the peer's.
type taskPanic struct{ r any }

func (e taskPanic) Error() string { return fmt.Sprintf("internal error (recovered panic): %v", e.r) }

// LocalFault marks it as this server's.
func (taskPanic) LocalFault() {}

// runAgain runs loop (the scheduler's, the stall guard's) until ctx
// ends: a panic in it is recovered and the loop run again a second
// later — once more at once when ctx ended meanwhile, so that its stop
// (the last pump, the tasks closed) is done.
func (q *Manager) runAgain(ctx context.Context, loop func(context.Context)) {
	for {
		if !q.runOnce(ctx, loop) {
			return
		}
		t := q.clk.NewTimer(time.Second)
		select {
		case <-ctx.Done():
		case <-t.C():
		}
		t.Stop()
	}
}

// runOnce runs loop, reporting whether it panicked.
func (q *Manager) runOnce(ctx context.Context, loop func(context.Context)) (panicked bool) {
	defer func() {
		if r := recover(); r != nil {
			q.recovered(PanicLoop, r)
			panicked = true
		}
	}()
	q.mayPanic(PanicLoop)
	loop(ctx)
	return false
}
