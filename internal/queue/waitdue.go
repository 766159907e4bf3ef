package queue

import (
	"context"
	"time"
)

// A delay notice or an expiry that falls due while a message waits for
// a slot of its destination's window (rt24d F1).
//
// A claimed message is Active from its claim on, also while its jobs
// only wait in their destinations' queues (dest.waiting) behind a slow
// or tarpitting destination whose window is full — for as long as the
// jobs before it take. The retry time that the attempts' commits cap at
// the delay notice and the expiry (noLaterThanDue) is a Ready message's:
// a waiting one has none, so it used to go on waiting past both, and
// was sent after its expiry with no DSN at all.
//
// Now the scheduler's loop looks, when the earliest such time among
// the waiting messages comes (sched.waitDue), and answers their jobs —
// of a message the expiry binds (expiryBinds: every message but a copy
// taken over and not tried here yet, which waits for its first attempt,
// as at a claim; rt32d F3: mail never tried waited with no notice and
// opened sessions after its expiry) —
// without a connection, as a throttled destination does (outcome
// throttled: no attempt counted, no retry step used, throttledReply:
// the note carries the host's last reply, which the DSNs report):
//   - at the expiry, every waiting job of the message — also when
//     another job of it runs: nothing starts for it at or after its
//     expiry; the attempt's end (finish) fails its pending recipients
//     with 550 5.4.7 and makes the failure DSN;
//   - at its delay notice still owed, the waiting jobs of a message
//     none of whose jobs runs or has results still uncommitted (every
//     job it has left waits): the attempt ends at once, and its commit
//     makes the delay DSN; the message is Ready again, due when the
//     destination drains (dest.held) or after the estimate of its
//     drain, at most ThrottleRecheck — it loses its place in the
//     destination's queue once, for the notice. A message with a job
//     running keeps its waiting jobs: its notice goes beside the running
//     job noticeGrace after it fell due, or with the attempt's end if
//     that comes first (noticecommit.go).
//
// One writer per record holds: the jobs are answered through report,
// as a dead destination's are (answerDead), and the attempt's end
// commits, as for any attempt; nothing here writes the store.

// waitRescan bounds how long the loop trusts sched.waitDue, a guard:
// every queuing of a job lowers it (start, and noteRequeued for jobs put
// back at the head of their queues by a withdrawal's putBack or a
// stall's give-back).
const waitRescan = time.Minute

// waitDueOf is when m's waiting jobs must be answered: its delay notice
// while owed, else its expiry (dueBy); zero for a message the expiry
// does not bind (expiryBinds: a copy taken over and not tried here yet,
// not notified, or a record without an arrival) — its job waits for its
// first attempt, which makes its notice when it ends (rr25 F1: a
// taken-over copy past its expiry was failed with no attempt, or sent a
// notice with none).
func (q *Manager) waitDueOf(m *Message, noticed bool) time.Time {
	// noticed: its notice went beside a running job of the attempt
	// (noticecommit.go): bound by the expiry it promised, no notice
	// owed — the one rule (expiryBinds, dueBy), as at the job's start.
	if !expiryBinds(m, noticed) {
		return time.Time{}
	}
	return q.dueBy(m, noticed)
}

// noteWaiting lowers sched.waitDue to due (a job of its message was
// queued to wait), and reports whether it did: the loop must then look
// again when to wake. Called with s.mu held.
func (s *scheduler) noteWaiting(due time.Time) bool {
	if due.IsZero() || !s.waitDue.IsZero() && !due.Before(s.waitDue) {
		return false
	}
	s.waitDue = due
	return true
}

// noteRequeued lowers sched.waitDue for jobs put back at the head of
// their queues (a withdrawal's putBack, a stall's give-back): a scan
// made while they were out of the queues did not count them, and with
// no due time known the loop slept to its next wake, up to an hour past
// their notice or expiry (rr25 F6). It reports whether the loop must
// look again (Kick, once s.mu is released). Called with s.mu held.
func (q *Manager) noteRequeued(jobs ...*job) bool {
	lowered := false
	for _, jb := range jobs {
		if jb.d != nil {
			lowered = q.sched.noteWaiting(q.waitDueOf(jb.a.m, jb.a.noticed.Load())) || lowered
		}
	}
	return lowered
}

// answerWaitingDue answers the waiting jobs whose message's delay notice
// or expiry came (see above), and returns how long the loop may sleep
// before the next such time (0: none known).
func (q *Manager) answerWaitingDue(ctx context.Context) time.Duration {
	if q.stopping(ctx) || q.stallBusy() {
		return 0 // the stop sends the waiting jobs back (pump); a stall's round gives them back itself (stallguard.go)
	}
	now := q.clk.Now()
	pol := q.policy()
	s := q.sched
	s.mu.Lock()
	if now.Sub(s.waitScan) < waitRescan && (s.waitDue.IsZero() || now.Before(s.waitDue)) {
		wait := time.Duration(0)
		if !s.waitDue.IsZero() {
			wait = s.waitDue.Sub(now)
		}
		s.mu.Unlock()
		return wait
	}
	s.waitScan = now
	jobs := map[*attempt][]*job{}
	var order []*attempt
	for _, d := range s.dests {
		if d.task {
			continue
		}
		for _, jb := range d.waiting {
			if jobs[jb.a] == nil {
				order = append(order, jb.a)
			}
			jobs[jb.a] = append(jobs[jb.a], jb)
		}
	}
	var next time.Time
	later := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	gone := map[*job]bool{}
	var answer []*job
	var recheck []time.Duration
	for _, a := range order {
		m := a.m
		due := q.waitDueOf(m, a.noticed.Load())
		if due.IsZero() {
			continue
		}
		expiry := m.OrgArrived().Add(pol.MessageExpiration)
		js := jobs[a]
		take := false
		switch {
		case !now.Before(expiry):
			take = true
		case !now.Before(due):
			a.mu.Lock()
			take = a.left == len(js) && a.own == 0 && a.peer == 0
			a.mu.Unlock()
			if !take {
				later(expiry) // its notice goes beside the running job or with the end (noticecommit.go); its expiry is still ours
			}
		default:
			later(due)
		}
		if !take {
			continue
		}
		for _, jb := range js {
			gone[jb] = true
			d := jb.d
			answer = append(answer, jb)
			recheck = append(recheck, min(max(d.drain(now), time.Second), s.cfg.ThrottleRecheck))
			d.hold(m.ID, time.Time{}) // due again when the destination drains
		}
	}
	s.dropJobs(gone)
	s.waitDue = next
	s.mu.Unlock()
	for k, jb := range answer {
		a := jb.a
		res := make([]Result, len(jb.rcpts))
		for i, r := range jb.rcpts {
			res[i] = Result{Rcpt: r, Outcome: throttled, Queue: jb.d.queue, Reply: throttledReply(a.m.Rcpts[r]), wait: recheck[k]}
		}
		a.mu.Lock()
		a.heldBy = append(a.heldBy, jb.d)
		a.mu.Unlock()
		// On a goroutine of its own, as a dead destination's answers
		// (pump): the last answer commits the attempt's results, and
		// that commit may be set aside for DeferLimit.
		go func() {
			next := 0
			defer q.recoverAnswers(ctx, []*job{jb}, &next)
			q.mayPanic(PanicDead)
			next = 1
			q.reportOrCrash(ctx, PanicDead, jb, res, nil)
		}()
	}
	if next.IsZero() {
		return 0
	}
	return max(next.Sub(now), 0)
}
