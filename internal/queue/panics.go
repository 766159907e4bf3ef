package queue

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"sync/atomic"

	"umbra/internal/panicline"
)

// What a panic in the queue's own goroutines does (a defect of umbra's).
// The rule: a recover never leaves the daemon worse than a crash. A
// panic is recovered only where no lock of the queue's can be held and
// what it ends is well-defined; where a lock may be held (the
// scheduler's s.mu and the attempt's a.mu are unlocked without defer on
// the hot paths) or bookkeeping half done (a job taken out of waiting
// and not started, an attempt whose last report never came, an ending
// commit made and its end not), the daemon crashes on purpose (crash):
// the panic counted and logged, written with its stack to stderr, exit
// status 2 — what the unrecovered panic did before; the service manager
// restarts it and Recover applies (the crash argument, doc.go). The
// crash's guard is deferred innermost (crashOnPanic), so nothing
// deferred before it runs and blocks on what the panic left held.
// Each panic is counted (ManagerConfig.Panics:
// umbra_queue_panics_total{part}) and logged at ERROR: "queue panicked,
// crashing" with the part, the message (msg_id) and the panic; or, for
// a recovered one, "queue panicked" with the part, the message or
// destination, the panic and its stack by panicline's rule (one line a
// minute, the next saying suppressed=N). What it does, by part:
//   - loop: the scheduler's loop, the stall guard's tick (runOrCrash) —
//     crash: the loop takes the scheduler's lock and hands jobs on;
//   - attempt: an attempt's start (start: its jobs queued under the
//     scheduler's lock, pump) and end (complete: its ending commit, the
//     scheduler's and the attempt's locks) — crash. (Recovered, an end
//     left a.mu held and its deferred leave blocked for good, and a
//     panic after the ending commit stranded as crashed a message the
//     commit had made Ready, claimed again by then: a second attempt
//     beside the first.)
//   - job: a delivery job's own code around the deliverer before its
//     end (its body's load, its notice's timer) — recovered: the job
//     ends with no result, its slot goes back and its recipients are
//     deferred "no result from delivery", the attempt counted, tried
//     again at the next retry step (noResult); its end (jobDone: the
//     window's slot and feedback under the scheduler's lock, pump,
//     report) — crash: recovered there, the lock stayed held, or the
//     report never came (the attempt never ended, Active, its slot
//     held), or a job pump had taken out of waiting was lost. A panic
//     inside the deliverer's call itself is the poison (deliver: a
//     Deliverer that does not recover its own, package delivery does
//     per group);
//   - dead: the answers of a dead destination's or a throttled waiting
//     job (answerDead, answerWaitingDue) — recovered before a job's
//     report: the jobs not answered yet end so too (noResult); in a
//     report (reportOrCrash: the attempt's lock, the attempt's end) —
//     crash;
//   - task: a client's task (a heartbeat, a watch session) — it ends
//     with a local fault (no failure of the peer's: taskDone), its slot
//     back; the client starts it again at its next step;
//   - notice: a delay notice committed beside a running job
//     (noticecommit.go) — not made then: the attempt's end makes it;
//   - expiry: the expiry's cut of a running attempt (expirycut.go) —
//     not cut: the attempt ends as its session does;
//   - stall: a stall's round (stallguard.go) — it ends as a round that
//     returned: attempts start again; its give-back of an attempt's
//     jobs under the scheduler's lock (putBack) — crash;
//   - admin: an operator's command in its section under the
//     scheduler's lock (SuspendQueue's mark and withdrawal, a
//     withdrawal of waiting jobs and their putting back: withdraw.go) —
//     crash: the admin API's server recovers a handler's panic, and the
//     lock (unlocked without defer there) stayed held, every job's start
//     and end, the loop and the stop blocked for good while mail was
//     still accepted, or jobs stayed half taken out of their queues
//     (TestQ5AdminPanicUnderSchedLockCrashes).
const (
	PanicLoop    = "loop"
	PanicAttempt = "attempt"
	PanicJob     = "job"
	PanicDead    = "dead"
	PanicTask    = "task"
	PanicNotice  = "notice"
	PanicExpiry  = "expiry"
	PanicStall   = "stall"
	PanicAdmin   = "admin"
)

// panicEnded is where a test's hook makes an attempt's end panic after
// its ending commit (finish): not a part of its own, counted as
// PanicAttempt.
const panicEnded = "attempt-ended"

// panicNoticeDSN is where a test's hook makes the build of a delay
// notice beside a running job panic (commitNotice, inside its own
// section): counted as PanicNotice.
const panicNoticeDSN = "notice-dsn"

// PanicParts are the values of the part label.
var PanicParts = []string{PanicLoop, PanicAttempt, PanicJob, PanicDead, PanicTask, PanicNotice, PanicExpiry, PanicStall, PanicAdmin}

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

// crashOnPanic, deferred by work that a panic may leave with a lock
// held or bookkeeping half done (an attempt's end, a job's end, the
// loops, a report), crashes the daemon on purpose at a panic (crash).
// It is deferred innermost, so that nothing deferred before it (a
// deferred lock, a slot's release) runs first and blocks for good on
// what the panic left held.
func (q *Manager) crashOnPanic(part string, attrs ...any) {
	if r := recover(); r != nil {
		q.crash(part, r, attrs...)
	}
}

// exit ends the process (tests of the crash run it in a subprocess).
var exit = os.Exit

// crash counts and logs the panic value r of part, writes it with its
// stack to stderr as the runtime would, and exits with status 2 — what
// the unrecovered panic did, without running anything of the goroutine
// that could block on a lock the panic left held. The service manager
// restarts the daemon (Restart=on-failure) and Recover applies: the
// crash argument (doc.go).
func (q *Manager) crash(part string, r any, attrs ...any) {
	stack := debug.Stack()
	if q.cfg.Panics != nil {
		q.cfg.Panics.QueuePanic(part)
	}
	q.log.Error("queue panicked, crashing", append(attrs, "part", part, "panic", fmt.Sprint(r))...)
	fmt.Fprintf(os.Stderr, "panic: %v\n\nqueue part %s: umbra crashes on purpose (a lock may be held, bookkeeping half done); the restart's Recover applies\n\n%s", r, part, stack)
	exit(2)
}

// reportOrCrash reports jb (report takes the attempt's lock, and the
// last report ends the attempt, complete); a panic there crashes.
func (q *Manager) reportOrCrash(ctx context.Context, part string, jb *job, res []Result, pw *peerWaitJob) {
	defer q.crashOnPanic(part, "msg_id", jb.a.m.ID.String())
	q.report(ctx, jb, res, pw)
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
		q.reportOrCrash(ctx, PanicDead, jb, nil, nil)
	}
}

// noResult marks the recipients of jb, whose job a panic ended before
// it reported, attempted with no result: finish defers them ("no result
// from delivery") and counts the attempt, so they are tried again at
// the next retry step — not due at once as an attempt no job of which
// ran (a stop's), which a panic that comes back each time would turn
// into a loop of claims. The mark is the job's own (no lock: only its
// goroutine has it), applied by its report under the attempt's lock,
// which the report takes anyway. (It was applied here under a TryLock,
// which gave up whenever another job, a delay notice or an expiry held
// the attempt's lock for that instant: nothing was marked, and the
// message went back due at once, unattempted —
// TestQueuePanicJobWhileAttemptLockHeldWaitsTheRetryStep. The lock is
// never one the panic left held: the job's code unlocks it by defer,
// and the job's deferred jobLeft takes it before the recover runs.)
func noResult(jb *job) { jb.noResult = true }

// taskPanic is a task's recovered panic as its error: this server's
// own fault (localFault), no failure of the peer's.
type taskPanic struct{ r any }

func (e taskPanic) Error() string { return fmt.Sprintf("internal error (recovered panic): %v", e.r) }

// LocalFault marks it as this server's.
func (taskPanic) LocalFault() {}

// runOrCrash runs loop (the scheduler's, the stall guard's) until ctx
// ends; a panic in it crashes the daemon (crash): the loop takes the
// scheduler's lock and hands jobs on, and a panic there may leave the
// lock held or a job neither waiting nor started.
func (q *Manager) runOrCrash(ctx context.Context, loop func(context.Context)) {
	defer q.crashOnPanic(PanicLoop)
	q.mayPanic(PanicLoop)
	loop(ctx)
}
