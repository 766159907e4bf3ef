package queue

import (
	"context"
	"slices"
	"time"
)

// A finished job's retry while another job of its attempt hangs
// (sched31 D1).
//
// An attempt is the one writer of its message's record until its last
// job reports (doc.go): a Ready record has one retry time and one
// schedule entry, and a claim of it while the attempt runs would be a
// second writer. So a recipient whose job deferred while another job of
// the attempt still runs (a next hop hung at its greeting, a tarpit)
// used to wait for that job's end — up to the outbound timeouts, in a
// retry up to the expiry — before its retry could even be scheduled.
//
// Now the attempt retries it itself: when such a job reports deferred
// recipients and a job of the attempt still runs, a timer is set for
// the retry step that recipient would get (the message's attempts, one
// more for each retry of this kind the attempt made), and when it fires
// while a job of the attempt still runs, the deferred recipients are
// planned again and their jobs queued in their destinations' windows,
// as the attempt's first jobs were. A recipient's first result stays
// until the retried job's deliverer answers for it with a try of the
// host (retriedLocked): then that answer replaces it (finish takes a
// recipient's first result). A retried job that never reaches the
// deliverer — sent back unstarted at the stop, or busy (releaseBusy),
// answered at the notice or the expiry (answerWaitingDue), kept from
// starting by the expiry, a poisoned attempt or an unreadable body —
// leaves the first, with its host's reply: never "no result from
// delivery" for a recipient a host answered. Nothing new is written: a crash meanwhile
// leaves the record Active, which Recover makes Ready, as for any
// attempt. If the last job reports before the timer fires, the timer
// is stopped and the attempt's end schedules the retry as before.
//
// Not for a suspect (CrashCount > 0: its jobs run one section at a
// time, suspectgate.go), nor past the message's expiry (the attempt's
// end fails the recipients: looked at when the timer is set and again
// when it fires, as a clock step may pass both), nor during the stop, nor once a job of the
// attempt panicked (a.panicked: the attempt goes to the poison queue,
// which keeps only what the jobs committed themselves — a retry's relay
// left to the end's commit would stay pending there and go again at a
// release; the panic's record stops the timers, and neither the arm nor
// the firing starts one after it). For the same reason a job of a
// poisoned attempt still waiting for its destination's slot does not
// start (runJob).

// armSiblingRetry sets the retry of the recipients res deferred, a job
// of a having reported while another still runs.
func (q *Manager) armSiblingRetry(ctx context.Context, a *attempt, res []Result) {
	var rcpts []int
	for _, r := range res {
		if r.Outcome == Deferred && r.Rcpt >= 0 && r.Rcpt < len(a.m.Rcpts) && !slices.Contains(rcpts, r.Rcpt) {
			rcpts = append(rcpts, r.Rcpt)
		}
	}
	m := a.m
	if len(rcpts) == 0 || m.CrashCount > 0 || q.stopping(ctx) {
		return
	}
	pol := q.policy()
	now := q.clk.Now()
	a.mu.Lock()
	if a.left <= 0 || a.retryOff || a.panicked != "" {
		a.mu.Unlock()
		return
	}
	wait := pol.backoff(m.Attempts + 1 + a.retries)
	if q.expiredBy(m, now.Add(wait)) {
		a.mu.Unlock()
		return // the expiry comes first: the attempt's end fails them
	}
	if a.retryStop == nil {
		a.retryStop = make(chan struct{})
	}
	stop := a.retryStop
	t := q.clk.NewTimer(wait)
	a.mu.Unlock()
	go func() {
		defer q.crashOnPanic(PanicAttempt, "msg_id", m.ID.String()) // a retry half queued would keep the attempt from ending
		select {
		case <-t.C():
			q.siblingRetry(ctx, a, rcpts)
		case <-stop:
			t.Stop()
		case <-ctx.Done():
			t.Stop()
		}
	}()
}

// expiredBy: m's expiry is at or before at — the rule of the retry's
// arm and of its firing alike. A record without an arrival (written by
// hand) has none.
func (q *Manager) expiredBy(m *Message, at time.Time) bool {
	pol := q.policy()
	return !m.Arrived.IsZero() && pol.MessageExpiration > 0 && !at.Before(m.OrgArrived().Add(pol.MessageExpiration))
}

// endSiblingRetries stops a's retry timers: its last job reported.
// Called with a.mu held.
func (a *attempt) endSiblingRetries() {
	a.retryOff = true
	if a.retryStop != nil {
		close(a.retryStop)
		a.retryStop = nil
	}
}

// siblingRetry queues the jobs of rcpts again, if a job of a still runs
// and the attempt's end has not begun.
func (q *Manager) siblingRetry(ctx context.Context, a *attempt, rcpts []int) {
	if q.stopping(ctx) {
		return
	}
	a.cmu.Lock()
	if a.ending {
		a.cmu.Unlock()
		return
	}
	a.mu.Lock()
	if a.left <= 0 || a.retryOff || a.panicked != "" || q.expiredBy(a.m, q.clk.Now()) {
		// Ended, poisoned, or its expiry came before the timer fired
		// (a clock stepped over both): the attempt's end fails them.
		a.mu.Unlock()
		a.cmu.Unlock()
		return
	}
	// Still deferred by the job that reported (not done by a commit of
	// its own since). Their results stay until the retry's deliverer
	// answers for them (retriedLocked): a retried job that never
	// reaches it leaves the first.
	var again []int
	for _, i := range rcpts {
		if _, done := a.early[i]; !done {
			again = append(again, i)
		}
	}
	if len(again) == 0 {
		a.mu.Unlock()
		a.cmu.Unlock()
		return
	}
	a.retries++
	a.left++ // the attempt cannot end before the retry's jobs report
	a.own++  // planning is umbra's code on the message (peerwait.go)
	q.markPhase(a)
	a.mu.Unlock()
	a.cmu.Unlock()

	q.sched.handOn() // until its jobs are queued or handed on, as a start's (stallguard.go)
	defer q.sched.handOver()
	jobs := q.plan(ctx, a, again)
	now := q.clk.Now()
	waitDue := q.waitDueOf(a.m, false)
	s := q.sched
	var run []*job
	lowered := false
	a.mu.Lock()
	a.left += len(jobs) - 1
	a.mu.Unlock()
	s.mu.Lock()
	for _, j := range jobs {
		jb := &job{a: a, rcpts: j.Rcpts, retry: true}
		if j.Dest == "" {
			run = append(run, jb)
			continue
		}
		d := s.destFor(j.Dest, j.Queue, j.Max)
		d.lastUse = now
		jb.d = d
		if len(d.waiting) == 0 {
			s.ring = append(s.ring, d)
		}
		d.waiting = append(d.waiting, jb)
		lowered = s.noteWaiting(waitDue) || lowered
	}
	s.mu.Unlock()
	if lowered {
		q.Kick()
	}
	for _, jb := range run {
		q.runJob(ctx, jb)
	}
	q.pump(ctx)
	q.leaveOwn(a)
}

// retriedLocked makes way, in a's results, for what the deliverer
// answered a retried job (res): each recipient it answered for with a
// try of the host drops its earlier results of the attempt, since
// finish and the delay notice take a recipient's first. A job that never
// reached the deliverer (sent back at the stop or busy, answered at its
// notice or expiry, kept from starting by the expiry or a poisoned
// attempt) reports no such result, and neither does a try that carries
// no word of the host (held, stopped by the stop, cut by the expiry
// before any reply, a panic): the first result stays, with its host's
// reply. Called with a.mu held.
func (a *attempt) retriedLocked(res []Result) {
	var again []int
	for _, r := range res {
		if hostTried(r) {
			again = append(again, r.Rcpt)
		}
	}
	if len(again) == 0 {
		return
	}
	drop := func(r Result) bool { return slices.Contains(again, r.Rcpt) }
	a.results = slices.DeleteFunc(a.results, drop)
	a.known = slices.DeleteFunc(a.known, drop)
}

// hostTried: r, a deliverer's result, is a try of the next hop — not one
// of umbra's notes made without one.
func hostTried(r Result) bool {
	switch r.Outcome {
	case Held, throttled, deadWait:
		return false
	case Deferred:
		return r.Reply != PanicReply && !stoppedByStop(r.Reply) && !expiredUnsent(r.Reply) && !umbraNote(r.Reply)
	}
	return true
}
