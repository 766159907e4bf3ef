package queue

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"umbra/internal/clock"
)

// The scheduler decides when and how many: every
// message the manager claims into the active set is split by destination
// (next hop: MX domain, smart host, site, mailbox database, primary) into
// jobs, and each destination has its own queue of jobs and a concurrency
// window. A job starts only when its destination's window has room, so a
// delivery goroutine never waits for a slot: a slow, tarpitting or dead
// destination holds its own window and nothing else (see doc.go,
// "Scheduling").

// Planner is implemented by a Deliverer that can name, without I/O, the
// destination of each recipient. A Deliverer that does not is given each
// message whole, as one job without a window.
type Planner interface {
	// Plan splits the recipients at the given indexes into jobs, one per
	// destination. Every index appears in exactly one job. It must not
	// wait on a peer (it runs on a receiving session's goroutine or the
	// scheduler's loop): what needs I/O to be routed (a directory asked
	// for a mailbox database) goes in a job without a destination, and
	// the job's attempt does the I/O. ctx is the attempt's.
	Plan(ctx context.Context, m *Message, rcpts []int) []Job
}

// HeldPlanner is a Planner that also names the jobs it would make were
// no queue suspended: Plan gives a suspended queue's recipients a job
// without a destination (answered held at once), so the destination of
// a suspended queue's held mail is known from PlanHeld alone
// (knowSuspended). It must not wait on a peer, as Plan.
type HeldPlanner interface {
	PlanHeld(ctx context.Context, m *Message, rcpts []int) []Job
}

// RouteNamer is implemented by a Deliverer that can name, without I/O,
// the queue each recipient's route takes now (Job.Queue of its Plan,
// whether or not that queue is suspended), parallel to rcpts. An
// operator's action on a route's queue asks it for the copies taken over
// from a failed primary, which wait listed in the primary's shadow queue
// rather than their route's (admin.go, takenOverOn).
type RouteNamer interface {
	RouteQueues(m *Message, rcpts []int) []string
}

// Job is the recipients of one message that share a destination.
type Job struct {
	// Dest names the destination (its connection pool and window), e.g.
	// "connector:out/example.org" or "org:site:B"; "" for recipients the
	// deliverer answers without a connection (no route, a suspended
	// queue, a size limit): they run at once, outside any window.
	Dest string
	// Queue is the queue the destination's recipients are shown in.
	Queue string
	// Max is the destination's concurrency limit (its send connector's
	// max_connections); 0 takes SchedulerConfig.MaxWindow.
	Max   int
	Rcpts []int
}

// SchedulerConfig sets the windows; zero fields take the defaults.
type SchedulerConfig struct {
	// InitialWindow is a destination's concurrency when first seen and
	// after a revival (5 by default).
	InitialWindow int
	// MaxWindow is the limit of a destination whose job names none.
	MaxWindow int
	// DeadCoolDown is how long a dead destination gets no connection;
	// then one probe (window 1) is let through.
	DeadCoolDown time.Duration
	// ThrottleRecheck bounds when a message whose destination already
	// held its share of the active set is looked at again (not an
	// attempt): after the time the destination needs to work off what it
	// holds, at least a second, at most this.
	ThrottleRecheck time.Duration
}

func (c *SchedulerConfig) defaults() {
	if c.InitialWindow <= 0 {
		c.InitialWindow = 5
	}
	if c.MaxWindow <= 0 {
		c.MaxWindow = 10
	}
	if c.DeadCoolDown <= 0 {
		c.DeadCoolDown = 5 * time.Minute
	}
	if c.ThrottleRecheck <= 0 {
		c.ThrottleRecheck = time.Minute
	}
}

// throttled is the outcome of a recipient whose destination held its
// share of the active set: not attempted, looked at again after
// ThrottleRecheck, no step of the retry schedule used.
const throttled Outcome = 255

// deadWait is the outcome of a recipient whose destination is dead: no
// connection was made, so it is a deferral (its reply and event are a
// deferral's) but no attempt — no step of the retry schedule is used —
// and it is due again when the destination's cool-down ends (deadEnd),
// when its probe goes, or at once after the operator revived it.
const deadWait Outcome = 254

// deadMark is in the reply of every deadWait recipient.
const deadMark = " is dead (no connection until its cool-down ends)"

// deadReply is the reply of a recipient of dead destination key.
func deadReply(key, lastErr string) string {
	reply := "451 4.4.1 destination " + key + deadMark
	if lastErr != "" {
		reply += deadLastText + lastErr
	}
	return reply
}

const deadLastText = "; last error: "

// realReply is reply, or the last real reply a deadReply carries: what
// a DSN reports (buildDSN), not the dead mark, which is umbra's note
// that it did not connect.
func realReply(reply string) string {
	sep := deadLastText
	switch {
	case isThrottleReply(reply), carriesTakeover(reply):
		sep = throttleLastText // a throttle's note carries one too (throttledReply), a hold's and the stop's a takeover's note (carryTakeover)
	case !isDeadReply(reply):
		return reply
	}
	if _, last, ok := strings.Cut(reply, sep); ok && last != "" {
		return last
	}
	return reply
}

// deadWaitReply is the reply and next hop a recipient answered by a
// dead destination (r, outcome deadWait) keeps: the dead mark, which its
// scheduling reads (onlyThrottled, rescheduleHeld), carrying the
// recipient's own last real reply (prevReply, from host prevHop) and
// that host as next hop, so that a DSN made meanwhile reports what the
// remote host said to this message (Remote-MTA, Diagnostic-Code), as
// any DSN does. A recipient no host has answered yet keeps the bare
// mark, its destination as next hop: the error that made the
// destination dead was another message's session (its greeting timed
// out on another connection, another message's body went unanswered),
// and written into this record it read as this message's last reply —
// in a delay DSN, and in the expiry's "last reply: …" (rt32d F1, F4).
// The destination's last error stays the destination's (Destinations,
// `umbra queue destinations`, the log line that declared it dead). The
// destination is the value answerDead made r's reply of (r.NextHop),
// not read back out of that reply.
//
// A copy taken over from a primary and not tried here yet keeps the
// takeover's note inside the mark, with no next hop (umbra's own note,
// no host's): the dead mark made no connection, so the copy is still
// untried here (takenOverUntried) and keeps its first attempt past its
// expiry, at this answer's commit and at the next claim.
func deadWaitReply(prevReply, prevHop string, r Result) (reply, hop string) {
	last := realReply(prevReply)
	if strings.HasPrefix(last, takeoverPrefix) {
		return deadReply(r.NextHop, last), ""
	}
	if last == "" || isDeadReply(last) || last == throttleReply || last == stopReply || !strings.Contains(prevHop, "[") {
		// No attempt of its own reached a host: no reply to carry.
		last, prevHop = "", r.NextHop
	}
	return deadReply(r.NextHop, last), prevHop
}

// deadDest is the destination a dead reply names, and whether reply is
// one.
func deadDest(reply string) (string, bool) {
	if !isDeadReply(reply) {
		return "", false
	}
	key, _ := strings.CutPrefix(reply, "451 4.4.1 destination ")
	key, _, _ = strings.Cut(key, deadMark)
	return key, true
}

// sameDeadDest: prev and reply are dead replies of one destination — a
// recipient that waits on it as it did.
func sameDeadDest(prev, reply string) bool {
	a, ok1 := deadDest(prev)
	b, ok2 := deadDest(reply)
	return ok1 && ok2 && a == b
}

// isDeadReply reports whether reply is one deadReply made.
func isDeadReply(reply string) bool {
	return strings.HasPrefix(reply, "451 4.4.1 destination ") && strings.Contains(reply, deadMark)
}

// destShare: once less than 1/destShare of the active set is free, a
// destination that holds (waiting and running) 1/destShare of it or more
// gets no more: the last part of the set is kept for the others, so that
// a burst for one slow destination cannot fill the set and keep their
// mail out of it.
const destShare = 4

// destHoldLimit is how much of a crowded active set of maxActive one
// destination may hold (running and waiting): its share, or its window
// when that is more — but never the set's last share (the reserve: at
// least one slot), whatever its window. A new destination's window
// (InitialWindow, 5) is above a small active set (max_active 4): six
// messages for a next hop that hung at its greeting took every slot,
// and the mail of every other destination waited the command timeout
// for the first of them to end (rt26d F4).
func destHoldLimit(maxActive, share, window int) int {
	return min(max(share, window), holdCap(maxActive, share))
}

// holdCap is the most of an active set of maxActive one destination may
// hold once it is crowded: all but the last share, one slot at least.
func holdCap(maxActive, share int) int { return max(maxActive-share, 1) }

// reserveNeeded reports whether the reserve (destHoldLimit) applies to
// d, at its limit in a crowded active set: while another destination
// has mail the scheduler holds back or keeps waiting for its window, or
// mail waits in the time index for room in a full set (dueBlocked: its
// destinations are not known until it is claimed; a slow but healthy
// destination's backlog before it in time order kept it out until the
// whole backlog was delivered, TestSlowDestinationBacklogLeavesASlotForOthers),
// and while d has not shown that it ends its jobs — no job of it ended
// in a success yet, or one failed since (a next hop hung at its
// greeting, TestHungDestinationLeavesAnActiveSlot), or one of its
// running jobs has taken more than overdueAfter, or two of its running
// jobs started since its last proof (dest.gen: a next hop that
// delivered and then hung at its greeting — every job of the burst
// after the success was younger than overdueAfter, and they took every
// slot: TestHungAfterSuccessLeavesAnActiveSlot). So jobs no success
// proves never take the whole set of 3 or more; with max_active 2 the
// reserve is the only destination's second slot (a next hop that hangs
// right after a success takes both), and a next hop that hangs while
// d's sessions already fill the set takes them too — until its jobs are
// overdue: then claims go beyond max_active until the reserve is free of
// them (claimLimit, activeset.go), and its own mail claimed there is
// turned away here (an overdue job: reserve needed). Otherwise d is the
// only destination with mail and ends its jobs as expected: it may take
// the last slots too (max_active 2 halved its throughput), and mail of
// another destination that falls due meanwhile gets the slot the next
// of its jobs frees (claimDue takes the index in time order).
// Under s.mu.
func (s *scheduler) reserveNeeded(d *dest, now time.Time) bool {
	if d.mayHang(now) || d.dead(now) || d.unproven > 1 || s.dueBlocked {
		return true
	}
	for _, o := range s.dests {
		if o != d && (len(o.waiting) > 0 || len(o.held) > 0) {
			return true
		}
	}
	return false
}

// mayHang: d has not shown that the jobs it runs end — none of its
// jobs ended yet or its last one failed (prompt), it failed in a row,
// or one of its running jobs has taken more than overdueAfter. A job
// that waits for a slot of such a destination's full window gives its
// message's slot of the active set back when due mail needs it
// (releaseBusy); one that waits for a destination that ends its jobs
// gets its slot within about one job's time. Under s.mu.
func (d *dest) mayHang(now time.Time) bool {
	if !d.prompt || d.streak > 0 {
		return true
	}
	late := overdueAfter(d.avg)
	for _, t := range d.starts {
		if now.Sub(t) > late {
			return true
		}
	}
	return false
}

// overdueAfter is how long a job of a destination whose jobs take avg
// may run before the destination counts as one that may hang
// (reserveNeeded): four times its average, a second at least.
func overdueAfter(avg time.Duration) time.Duration { return max(4*avg, time.Second) }

// overdue counts the running jobs of mail destinations that are overdue
// at now (overdueAfter) and returns the earliest time after now at which
// another one will be (zero: none). Under s.mu.
func (s *scheduler) overdue(now time.Time) (int, time.Time) {
	n := 0
	var next time.Time
	for _, d := range s.dests {
		if d.task {
			continue
		}
		late := overdueAfter(d.avg)
		hung := false
		for _, t := range d.starts {
			if at := t.Add(late); !now.Before(at) {
				n++
				hung = true
			} else if next.IsZero() || at.Before(next) {
				next = at
			}
		}
		if hung {
			n += len(d.waiting) // its jobs queued behind the hung sessions hold the set as they do
		}
	}
	return n, next
}

// overdueAt is overdue under the scheduler's lock.
func (q *Manager) overdueAt(now time.Time) (int, time.Time) {
	s := q.sched
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.overdue(now)
}

// throttleReply is the reply of a throttled recipient.
const throttleReply = "452 4.3.2 destination busy: waiting for a delivery slot"

// throttleLastText joins a throttle's note and the host's reply it
// carries (throttledReply).
const throttleLastText = "; last reply: "

// throttledReply is the reply a recipient answered throttled keeps
// (finish, outcome throttled; its next hop is kept as it was): the
// throttle's note, which its scheduling reads (onlyThrottled), carrying
// the host's last reply when it has one (hostReplied) — so a delay or
// failure DSN made meanwhile reports what the remote host said under
// its name (Remote-MTA, Diagnostic-Code: realReply), not umbra's note as
// the host's, and answered still finds that the message was tried, as a
// dead destination's mark does (deadWaitReply; rr25 F3: a retry waiting
// for a window lost its host's reply, and past its expiry was tried
// again).
//
// A copy taken over and untried here keeps the takeover's note the same
// way (takenOverUntried): the throttle made no connection.
func throttledReply(rc Recipient) string {
	if hostReplied(rc) || strings.HasPrefix(realReply(rc.LastReply), takeoverPrefix) {
		return throttleReply + throttleLastText + realReply(rc.LastReply)
	}
	return throttleReply
}

// carryTakeover is note — a hold's (HeldReply) or the stop's
// (stopReply): umbra's own, made with no connection — carrying the
// takeover's note of a copy taken over and not tried here yet
// (takenOverUntried reads it through realReply), as a throttle's and a
// dead mark's do; note alone for any other recipient. A hold's or the
// stop's note replaced the takeover's, so after the resume, or a
// restart, the copy was bound by the ordinary expiry: failed 5.4.7 with
// no connection made here (sched33).
func carryTakeover(prev, note string) string {
	if bare, ok := withoutTakeover(note); ok {
		note = bare // carried once, not twice (a claim's Held result gives the reply back as it was)
	}
	if last := realReply(prev); strings.HasPrefix(last, takeoverPrefix) {
		return note + throttleLastText + last
	}
	return note
}

// carriesTakeover reports whether reply is a hold's or the stop's note
// carrying a takeover's (carryTakeover).
func carriesTakeover(reply string) bool {
	if !strings.Contains(reply, throttleLastText+takeoverPrefix) {
		return false
	}
	return strings.HasPrefix(reply, stopReply+throttleLastText) || heldBy(reply) != ""
}

// takeoverLeft is what a recipient keeps when a hold's or the stop's
// note stops applying (a resume, a redirect): the takeover's note it
// carries (carryTakeover), or nothing.
func takeoverLeft(reply string) string {
	if last := realReply(reply); strings.HasPrefix(last, takeoverPrefix) {
		return last
	}
	return ""
}

// withoutTakeover is reply, a mark carrying a takeover's note (a
// throttle's, a dead destination's, a hold's, the stop's), without it:
// umbra's own note alone. ok false for any other reply.
func withoutTakeover(reply string) (string, bool) {
	for _, sep := range [...]string{throttleLastText, deadLastText} {
		if note, _, ok := strings.Cut(reply, sep+takeoverPrefix); ok && umbraNote(note) {
			return note, true
		}
	}
	return reply, false
}

// isStopReply reports whether reply is the stop's note (stopReply),
// bare or carrying a takeover's (carryTakeover).
func isStopReply(reply string) bool {
	return reply == stopReply || strings.HasPrefix(reply, stopReply+throttleLastText+takeoverPrefix)
}

// isThrottleReply reports whether reply is one throttledReply made.
func isThrottleReply(reply string) bool {
	return reply == throttleReply || strings.HasPrefix(reply, throttleReply+throttleLastText)
}

// heldCap bounds the messages a destination makes due at once when it
// drains (dest.held, wakeHeld: one transaction of at most this many);
// the others it holds wait for their recheck, or the next drain. Every
// message it turned away is remembered (its id and recheck: a few dozen
// bytes), so that Destinations counts them exactly and the end of an
// attempt it turned away does not take it for one the drain woke: a
// bound on what was remembered (1,024) made queue destinations say
// 1,024 waiting for a larger backlog, and made each message past it due
// again at once at its attempt's end, to be claimed and turned away
// again without end (TestDestinationWaitingCountsEveryHeldMessage). A
// var: a test lowers it.
var heldCap = 1024

// hold remembers message id as turned away by d's share until its
// recheck, at until — zero: not known yet, its attempt runs (dest.held).
func (d *dest) hold(id ID, until time.Time) {
	if d.held == nil {
		d.held = map[ID]time.Time{}
	}
	d.held[id] = until
}

// heldGrace is how long past the recheck estimated at its verdict a
// message is still counted as held (its record's next attempt is set
// when its results commit, a little later): past it, it is due and waits
// for a claim, no longer for its destination, or it is gone (delivered
// elsewhere, removed, expired) — and forgotten.
const heldGrace = time.Second

// heldCount counts the messages d holds back at now, forgetting those
// past their recheck (heldGrace). Called with s.mu held.
func (d *dest) heldCount(now time.Time) int {
	for id, until := range d.held {
		if !until.IsZero() && now.After(until.Add(heldGrace)) {
			delete(d.held, id)
		}
	}
	return len(d.held)
}

// wakeSome takes out of d.held up to heldCap messages still waiting on
// their recheck, to be made due now (wakeHeld), forgetting on the way
// those past it. Called with s.mu held.
func (d *dest) wakeSome(now time.Time) []ID {
	var wake []ID
	for id, until := range d.held {
		if len(wake) >= heldCap {
			break
		}
		delete(d.held, id)
		if until.IsZero() || !now.After(until.Add(heldGrace)) {
			wake = append(wake, id)
		}
	}
	if len(d.held) == 0 {
		d.held = nil
	}
	return wake
}

// dest is one destination's queue and window.
type dest struct {
	key, queue string
	task       bool // a client's task destination (StartTask), not mail's
	max        int  // window limit
	defaultMax bool // max is SchedulerConfig.MaxWindow (no limit of the job's own): a reload changes it (SetReloadable)
	window     int  // current concurrency limit, 1..max
	busy       int  // jobs running
	waiting    []*job
	streak     int // failed attempts in a row
	// msgFails: jobs in a row, since its last success, whose message
	// went whole and got no readable answer to its end (arrivedFailure:
	// feedback 0). They leave the window, the streak and death as they
	// are — each is that message's failure — but the operator sees the
	// destination failing with the last of them as its last error
	// (Destinations, umbra_scheduler_destinations): a next hop that hangs
	// after every final dot is not shown idle.
	msgFails  int
	cohort    int // the window when the streak began: that many failures in a row make it dead
	deadUntil time.Time
	// deaths counts its dead marks: a job records it when it starts,
	// and one that ends after a mark made since (started before it) is
	// stale — its result changes nothing of the destination's health
	// (jobDone).
	deaths uint64
	// killer: the message whose failure made it dead (jobDone): its
	// jobs answered by the dead mark are due a second after the
	// cool-down's end, not with the probe (pump).
	killer ID
	// nextTry: when the mail a failed job of it left waiting is due
	// again, the earliest still ahead (complete); the operator's "next
	// try" of a failing destination (Destinations).
	nextTry time.Time
	lastErr string
	lastHop string // the host that answered lastErr ("" when none did)
	lastUse time.Time
	avg     time.Duration // moving average of a job's duration
	starts  []time.Time   // start times of the running jobs
	// held: messages throttled for this destination, each with its
	// recheck — zero while the attempt that was turned away runs (its
	// recheck is set by that attempt's commit, which may wait for the
	// attempt's other jobs and result_commit_delay: an estimate made at
	// the verdict forgot the message while it was still held), the
	// recheck its commit set once it ended; made due when it drains
	// (jobDone, up to heldCap at a time) rather than when that recheck
	// comes round, and forgotten heldGrace after a recheck passed.
	held map[ID]time.Time
	// holdCap: the most of a crowded active set it may hold whatever its
	// window (destHoldLimit), as of its last throttle verdict; 0 before.
	holdCap int
	// prompt: its last job that ended answered as the next hop's
	// success does (feedback +1), none failed since (reserveNeeded).
	prompt bool
	// gen counts the successes that proved the destination ends its
	// jobs: a job started at gen g that ends in a success while gen is
	// still g (it started after the last proof) makes it g+1. unproven:
	// its running jobs started at the current gen — none of them is
	// known to end (reserveNeeded). A success of a job started before
	// the last proof proves nothing of the jobs started since: sessions
	// opened before a next hop hung still end, one by one, while every
	// one opened after hangs.
	gen      uint64
	unproven int
	// running: the messages with a job running here, and how many
	// (attemptsOn: the queue a first attempt is in before its results
	// name it).
	running map[ID]int
}

// drain estimates how long d needs for what it holds: its jobs in
// windows of d.window, each as long as the average job (a second before
// any finished), or as long as the oldest running one has been going
// when that is longer.
func (d *dest) drain(now time.Time) time.Duration {
	per := d.avg
	if per == 0 {
		per = time.Second // no job finished yet: assume slow until one does
	}
	for _, t := range d.starts {
		per = max(per, now.Sub(t))
	}
	return time.Duration(int64(per) * int64(d.busy+len(d.waiting)) / int64(max(d.window, 1)))
}

func (d *dest) dead(now time.Time) bool { return now.Before(d.deadUntil) }

// drained: d worked off what it held — nothing waits and its window has
// room — so the messages it held back (d.held) may come now.
func (d *dest) drained(now time.Time) bool {
	return len(d.waiting) == 0 && d.busy < d.window && (d.holdCap == 0 || d.busy < d.holdCap) && !d.dead(now)
}

// wakeHeld makes due now the messages a destination held back by its
// share once it drained: those still waiting, only on that verdict
// (every pending recipient throttled), for their recheck. A message in
// delivery again, or waiting for anything else (a retry step, a hold),
// is left as it is.
func (q *Manager) wakeHeld(ids []ID) {
	if len(ids) == 0 {
		return
	}
	now := q.clk.Now()
	n := 0
	err := q.store.Update(context.Background(), func(tx *Tx) error {
		n = 0
		for _, id := range ids {
			m, err := tx.Get(id)
			if errors.Is(err, ErrNotFound) {
				continue
			} else if err != nil {
				return err
			}
			if m.State != Ready || !m.NextAttempt.After(now) || !onlyThrottled(m) {
				continue
			}
			m.NextAttempt = now
			if err := tx.Put(m); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil && !errors.Is(err, ErrClosed) {
		q.log.Warn("held mail not made due after its destination drained; it waits for its recheck", "err", err)
	}
	if n > 0 {
		q.Kick()
	}
}

// rescheduleHeld makes due now, in tx, the messages waiting only on a
// throttle's recheck (every pending recipient throttled): at a start,
// where the destinations that held them back are forgotten. A throttle
// waits at most ThrottleRecheck, so only the time index from now to
// then is read, at most heldScan messages of it.
func (q *Manager) rescheduleHeld(tx *Tx, now time.Time) error {
	c := tx.schedule.Cursor()
	end := now.Add(q.sched.cfg.ThrottleRecheck)
	var held []*Message
	n := 0
	for k, _ := c.Seek(scheduleKey(now, 0)); k != nil && n < heldScan; k, _ = c.Next() {
		due, id, ok := parseScheduleKey(k)
		if !ok || due.After(end) {
			break
		}
		n++
		m, err := tx.Get(id)
		if err != nil {
			continue // an undecodable record is the damaged-record check's
		}
		if m.State == Ready && m.NextAttempt.After(now) && onlyThrottled(m) {
			held = append(held, m)
		}
	}
	for _, m := range held { // not while the cursor walks the index Put rewrites
		m.NextAttempt = now
		if err := tx.Put(m); err != nil {
			return err
		}
	}
	return nil
}

// heldScan bounds the time index entries rescheduleHeld reads.
const heldScan = 100000

// onlyThrottled: every pending recipient of m waits on its destination's
// share, none on a retry step.
func onlyThrottled(m *Message) bool {
	pending := m.Pending()
	for _, i := range pending {
		if r := m.Rcpts[i].LastReply; !isThrottleReply(r) && !isDeadReply(r) {
			return false
		}
	}
	return len(pending) > 0
}

// job is one Job of one attempt.
type job struct {
	a       *attempt
	d       *dest // nil: no destination, no window
	rcpts   []int
	started time.Time
	// gen: its destination's gen when it started (unproven).
	gen uint64
	// deaths: its destination's deaths when it started: a job that
	// ends after a dead mark made since is stale (jobDone).
	deaths uint64
	// noResult: a panic ended it before it reported (noResult): its
	// report marks its recipients attempted with no result.
	noResult bool
	// retry: made by a sibling retry (siblingretry.go): what the
	// deliverer answers for its recipients replaces their earlier
	// results of the attempt (retriedLocked); nothing else does.
	retry bool
}

// attempt is one message in the active set: its jobs run independently;
// what one finishes is committed when it reports while others run
// (jobcommit.go), and when the last one reports, the results are
// committed together.
type attempt struct {
	m *Message

	mu      sync.Mutex
	body    Body // loaded when loaded is set: a head and a file reference, never the file's content
	loaded  bool
	bodyErr error
	results []Result
	// known is every result known to the attempt as soon as it is
	// known — a group's as it reports (before commitJob keeps only the
	// committable ones), a job's as deliver returns (before jobDone and
	// report) — for the delay notice committed while a job still runs
	// (noticecommit.go); results keeps finish's order.
	known     []Result
	attempted []int // the recipients of the jobs that reached the deliverer
	// started: the recipients of the jobs that started (their body
	// loaded, the deliverer called or about to be), before they report
	// — not those whose jobs still wait for a slot of their
	// destination's window: the delay notice made beside a running job
	// says which (noticecommit.go).
	started map[int]bool
	// inData is the recipients whose transaction is in its envelope or
	// the message data now, with the host and since when (InEnvelope,
	// InMessageData; a delay notice meanwhile says so).
	inData map[int]dataPhase
	// turnLends is how many jobs of it wait for a turn now (under the
	// scheduler's lock): the message lends its slot while one does
	// (turnwait.go).
	turnLends int
	left      int
	ran       bool   // at least one job reached the deliverer
	stopped   bool   // a job of it was kept from starting by the stop (unstarted)
	panicked  string // a job's delivery panicked: the message goes to poison
	throttled []int  // recipients whose destination held its share
	recheck   time.Duration
	heldBy    []*dest // the destinations that throttled them
	deadOn    []*dest // the dead destinations that answered jobs of it (deadWait)
	failedOn  []*dest // the destinations its jobs failed on (feedback −1, or a message's failure after its dot: arrivedFailure): their next try is its retry
	settled   func()  // ends its settling mark (settling.go)
	endMark   func()  // ends the settling mark its last job's report made, after the end's commit (settling.go)
	expired   bool    // not made, or a job of it not started: the message's expiry had come (expiredNow)
	// entered: the queue each recipient of a first attempt entered from
	// submission when its job was planned (noteEntered), counted then
	// in that queue's IN/MIN; its result moves it from there.
	entered map[int]string

	// throttledIn: the queue of the destination that held each of
	// throttled back ("" for none named: the recipient's own).
	throttledIn []string

	// Its jobs' own commits (jobcommit.go): cmu orders them before the
	// attempt's end, which sets ending; early is what they committed.
	cmu    sync.Mutex
	ending bool
	early  map[int]Result
	// Its delay notice made while a job of it ran (noticecommit.go):
	// noticed is set once it is committed; the timer (under mu) fires
	// noticeGrace after the notice fell due, and the end stops it.
	noticed     atomic.Bool
	noticeTimer clock.Timer
	noticeStop  chan struct{}
	noticeOff   bool
	// Its retries of recipients a finished job deferred while another
	// job ran (siblingretry.go, under mu): how many it made, the stop
	// of their timers, closed when the attempt ends.
	retries   int
	retryStop chan struct{}
	retryOff  bool

	// The phase for the poison heuristic (peerwait.go): sections of
	// umbra's code running on the message (its start, its jobs outside
	// their waits, its end) and jobs waiting on a peer; what its slot
	// says (0: no slot) and the slot + 1 (0: none).
	own, peer int
	// jobs is how many of its jobs started (withJob) and have not left
	// (jobLeft): a job of it still runs (noticecommit.go).
	jobs  int
	phase byte
	slot  int64
}

// scheduler holds the destinations. Its lock is never held across I/O.
type scheduler struct {
	cfg SchedulerConfig

	mu    sync.Mutex
	dests map[string]*dest
	ring  []*dest // destinations with waiting jobs, in round-robin order
	next  int

	// dueBlocked: the run loop's last pass found mail due in the time
	// index and no room in the active set for it (releaseBusy). The
	// mail there is of destinations nothing in memory names yet, so
	// the reserve applies (reserveNeeded) until a pass finds room or
	// nothing due.
	dueBlocked bool

	// turnWaits counts the messages with a job waiting for a mailbox's
	// turn or the suspects' turn now: each lends its one slot of the
	// active set, however many of its jobs wait (turnwait.go).
	turnWaits int

	// waitDue is the earliest delay notice or expiry of a message with
	// a job waiting for a window (zero: none), as the scan at waitScan
	// found it or a job queued since lowered it (waitdue.go).
	waitDue, waitScan time.Time

	// After a stall, the jobs not started yet are given back
	// (stallguard.go, giveBackUnstarted): handing counts the starts and
	// the jobs handed on (runJob) that have not reached their start
	// check; while parking, a job at its check is parked instead of
	// started; handed is told each time handing drops.
	handing    int
	parked     []*job
	afterRound []*job // held by a stall's round, started at its end (startAfterRound)
	parking    atomic.Bool
	handed     chan struct{}
	// parkedHook, when set (tests only), runs in runJob after a job was
	// parked at its start check, before it leaves the attempt.
	parkedHook atomic.Pointer[func(*job)]
	// markReadHook, when set (tests only), runs in start inside the
	// transaction that reads the stored delay mark.
	markReadHook atomic.Pointer[func(ID)]
	// endReadHook, when set (tests only), runs in complete once it read
	// the attempt's delay mark (a.noticed), before its end commits.
	endReadHook atomic.Pointer[func(ID)]
	// startHook, when set (tests only), runs in pump under s.mu as a
	// job of d is started.
	startHook atomic.Pointer[func(jb *job, d *dest)]
	// suspendHook, when set (tests only), runs in SuspendQueue once the
	// suspension's mark is set in memory, before the queue's waiting
	// jobs are taken out.
	suspendHook atomic.Pointer[func()]
}

func newScheduler(cfg SchedulerConfig) *scheduler {
	cfg.defaults()
	return &scheduler{cfg: cfg, dests: map[string]*dest{}, handed: make(chan struct{}, 1)}
}

// DestinationInfo is one destination's window and state for the operator.
type DestinationInfo struct {
	Name  string `json:"name"`
	Queue string `json:"queue"`
	// State is the destination's state, the first that holds:
	// suspended (its queue is, by the operator: no job starts), dead
	// (until DeadUntil, after a failed cohort), failing (Failures in a
	// row and no success since; its mail waits for its retry, NextTry
	// when known), active (jobs running or waiting), idle;
	// unresponsive for a server that did not answer (Health).
	State     string    `json:"state"`
	Window    int       `json:"window"`
	Max       int       `json:"max"`
	Running   int       `json:"running"`
	Waiting   int       `json:"waiting"`
	Failures  int       `json:"failures_in_a_row"`
	DeadUntil time.Time `json:"dead_until,omitzero"`
	NextTry   time.Time `json:"next_try,omitzero"` // failing: when the mail a failed attempt left waiting is due again
	// NoMailLeft: failing, but nothing runs, waits or is queued for it
	// (its mail removed, redirected or delivered another way): no try
	// is due and no success will end its failures in a row until new
	// mail comes (queue list: "failing (3 in a row; no mail left)").
	NoMailLeft bool   `json:"no_mail_left,omitempty"`
	LastError  string `json:"last_error,omitempty"`
}

// attemptsOn is the messages with a job waiting for a slot of, or
// running on, a destination of queue name: in their first attempt their
// recipients name no queue yet (the results set it), and the operator
// who names the queue must find them in it (CheckQueue, Messages).
func (q *Manager) attemptsOn(name string) []ID {
	s := q.sched
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.onQueue(name, true)
}

// eachOnMail is the one walk of the scheduler's queues for the
// operator's view of them: it calls f with each message that has a job
// waiting for a slot of a mail destination (a client's task destination
// is not mail's: tasks.go) and that destination; with running, also
// with each message that has a job running on one. A message comes once
// for each such job. Called with s.mu held.
func (s *scheduler) eachOnMail(running bool, f func(id ID, d *dest)) {
	for _, d := range s.dests {
		if d.task {
			continue
		}
		for _, jb := range d.waiting {
			f(jb.a.m.ID, d)
		}
		if running {
			for id := range d.running {
				f(id, d)
			}
		}
	}
}

// onQueue is the messages eachOnMail names for a destination of queue
// name, each once, in id order. Called with s.mu held.
func (s *scheduler) onQueue(name string, running bool) []ID {
	var out []ID
	s.eachOnMail(running, func(id ID, d *dest) {
		if d.queue == name {
			out = append(out, id)
		}
	})
	slices.Sort(out)
	return slices.Compact(out)
}

// jobView is what the scheduler holds of one message in its attempt
// (StateView): the queues where a job of it waits for a slot of its
// destination's window and where one runs, the recipients of its
// waiting jobs, and whether a job of it runs at all (it has more jobs
// left to report than wait: one without a destination counts too);
// whole: an operator's command would withdraw it (waitsWhole).
type jobView struct {
	waitQueues map[string]bool
	runQueues  map[string]bool
	waitRcpts  []int
	running    bool
	whole      bool
	// stalls: what each recipient of its running jobs waits on now (a
	// host in a step of its session: attemptStalls), with the queue it
	// is attempted through.
	stalls map[int]queuedStall
}

// queuedStall is a recipient's Stall with the queue its job runs in.
type queuedStall struct {
	Stall
	queue string
}

// queues is the queues where a job of the message waits or runs, each
// once, sorted: where a first attempt's recipients are, before its
// results name their queue (Queues).
func (v *jobView) queues() []string {
	out := make([]string, 0, len(v.waitQueues)+len(v.runQueues))
	for name := range v.waitQueues {
		out = append(out, name)
	}
	for name := range v.runQueues {
		if !v.waitQueues[name] {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// waitsIn says whether the message of v, whose record the index holds
// Active in queue name, waits there rather than being active: no job of
// it runs on a destination of name, and either a job of it waits for a
// slot of one, or — its jobs in other queues than the one its record
// names: retried out of unreachable once a connector serves it,
// redirected, a taken-over copy in its primary's shadow queue — every
// recipient it has pending in name is in a job that waits for a slot
// (rt31e F1: five retried out of unreachable, one running, four
// waiting for the destination's one slot, were counted 5 active there
// where message list showed 1 active, 4 waiting). record reads its
// stored record (nil: none), only when the jobs' queues do not answer.
func (v *jobView) waitsIn(name string, record func() *Message) bool {
	if v.runQueues[name] {
		return false
	}
	if v.waitQueues[name] {
		return true
	}
	m := record()
	if m == nil || m.State != Active || firstAttempt(m) {
		return false // a first attempt is counted in its jobs' queues (firstAttemptsOf)
	}
	n := 0
	for i := range m.Rcpts {
		if r := &m.Rcpts[i]; r.Status.Done() || waitsIn(r) != name {
			continue
		}
		if !slices.Contains(v.waitRcpts, i) {
			if v.running {
				return false // runs, or its job ended while another runs: active here
			}
			// Its job ended and no job of the message runs: message
			// list shows it waiting (StateView.State).
		}
		n++
	}
	return n > 0 && len(v.waitQueues) > 0
}

// jobViews is the jobView of every message with a job waiting for a
// slot of, or running on, a mail destination (a client's task
// destination is not mail's: tasks.go), in one walk of the
// scheduler's queues.
func (q *Manager) jobViews() map[ID]*jobView {
	s := q.sched
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[ID]*jobView{}
	get := func(id ID) *jobView {
		v := out[id]
		if v == nil {
			v = &jobView{waitQueues: map[string]bool{}, runQueues: map[string]bool{}}
			out[id] = v
		}
		return v
	}
	waiting := map[*attempt]int{}
	for _, d := range s.dests {
		if d.task {
			continue
		}
		for _, jb := range d.waiting {
			v := get(jb.a.m.ID)
			v.waitQueues[d.queue] = true
			v.waitRcpts = append(v.waitRcpts, jb.rcpts...)
			waiting[jb.a]++
		}
		for id, n := range d.running {
			if n > 0 {
				v := get(id)
				v.runQueues[d.queue], v.running = true, true
			}
		}
	}
	for a, n := range waiting {
		a.mu.Lock()
		v := out[a.m.ID]
		v.running = v.running || a.left > n
		v.whole = a.waitsWholeLocked(n)
		a.mu.Unlock()
	}
	for id, v := range out {
		if !v.running {
			continue
		}
		if x, ok := q.inDelivery.Load(id); ok {
			v.stalls = x.(*attempt).stalls()
		}
	}
	return out
}

// Stall is what a recipient's running attempt waits on: the host
// it is in session with, the step of that session no reply of the host
// has ended yet — the words a delay notice uses ("the session's opening
// (greeting)", "the envelope (MAIL, RCPT)", "the message data") — and
// since when. A transaction in progress waits so too, briefly; one the
// host stopped answering waits on, up to command_timeout or
// data_timeout. message show, queue list and the admin API show it.
type Stall struct {
	Host  string    `json:"host"`
	Step  string    `json:"step"`
	Since time.Time `json:"since"`
}

// Text is s for the operator at now: "HOST, during STEP, no reply since
// T (N s)".
func (s Stall) Text(now time.Time) string {
	return s.Host + ", during " + s.Step + ", no reply since " + s.Since.UTC().Format(time.RFC3339) +
		" (" + now.Sub(s.Since).Round(time.Second).String() + ")"
}

// stalls is the Stall of each recipient of a that is in a step of a
// session now (its phase marks: datastall.go), with the queue it was
// planned for (entered) or its own.
func (a *attempt) stalls() map[int]queuedStall {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out map[int]queuedStall
	for i, p := range a.inData {
		if p.phase == "" {
			continue // left the transaction with a reply (LeftTransaction)
		}
		if out == nil {
			out = map[int]queuedStall{}
		}
		name := a.entered[i]
		if name == "" && i >= 0 && i < len(a.m.Rcpts) {
			name = queueOf(&a.m.Rcpts[i])
		}
		out[i] = queuedStall{Stall{Host: p.host, Step: p.phase, Since: p.since}, name}
	}
	return out
}

// coolingDown is, of each queue every mail destination of which the
// scheduler holds is dead at now, the earliest end of their cool-downs:
// the queue's mail is attempted no earlier (pump answers a dead
// destination's jobs without a connection).
func (q *Manager) coolingDown(now time.Time) map[string]time.Time {
	s := q.sched
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]time.Time{}
	alive := map[string]bool{}
	for _, d := range s.dests {
		switch {
		case d.task:
		case !d.dead(now):
			alive[d.queue] = true
		case out[d.queue].IsZero() || d.deadUntil.Before(out[d.queue]):
			out[d.queue] = d.deadUntil
		}
	}
	for name := range alive {
		delete(out, name)
	}
	return out
}

// Destinations lists the scheduler's destinations with their windows.
func (q *Manager) Destinations() []DestinationInfo {
	now := q.clk.Now()
	s := q.sched
	s.mu.Lock()
	idle := s.idleTaskQueues()
	// A failing destination with nothing running or waiting: shown
	// with no mail left when its queue holds nothing either (below).
	for _, d := range s.dests {
		if !d.task && d.busy == 0 && len(d.waiting) == 0 && d.failing() && d.heldCount(now) == 0 {
			if idle == nil {
				idle = map[string]bool{}
			}
			idle[d.queue] = true
		}
	}
	s.mu.Unlock()
	// Task destinations whose queue holds nothing are not listed
	// (tasks.go); the store is read outside the scheduler's lock.
	empty := map[string]bool{}
	if len(idle) > 0 {
		_ = q.store.View(func(tx *Tx) error {
			for name := range idle {
				empty[name] = len(tx.InQueue(name, 1)) == 0
			}
			return nil
		})
	}
	q.qmu.Lock()
	suspended := maps.Clone(q.suspended)
	q.qmu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]DestinationInfo, 0, len(s.dests))
	for k, d := range s.dests {
		if d.task && d.busy == 0 && len(d.waiting) == 0 && empty[d.queue] {
			delete(s.dests, k)
			continue
		}
		// Waiting counts the messages it turned away while it held its
		// share (d.held: due again when it drains), listed in its queue
		// as retry, besides the jobs waiting for a slot (rt27d F4).
		di := DestinationInfo{Name: d.key, Queue: d.queue, Window: d.window, Max: d.max, Running: d.busy,
			Waiting: len(d.waiting) + d.heldCount(now), Failures: d.streak + d.msgFails, LastError: d.lastErr, State: "idle"}
		// Never "idle" while it is held or failing (sched24): a
		// destination with failures in a row and its mail waiting for
		// a retry is not idle.
		switch {
		case !d.task && suspended[d.queue]:
			di.State = "suspended"
		case d.dead(now):
			di.State, di.DeadUntil = "dead", d.deadUntil
		case d.failing() && d.busy == 0 && di.Waiting == 0 && empty[d.queue]:
			// Its failures in a row stand (mail within the hour goes
			// on counting them) but no mail of it is left — removed,
			// redirected, delivered another way: no success will end
			// them and no try is due. Shown so (rt36 F5: a "next try"
			// for no mail alarmed for nothing), never "idle" beside
			// its failures in a row and no success since.
			di.State, di.NoMailLeft = "failing", true
		case d.failing():
			di.State = "failing"
			if d.nextTry.After(now) {
				di.NextTry = d.nextTry
			}
		case d.busy > 0 || di.Waiting > 0:
			di.State = "active"
		}
		out = append(out, di)
	}
	// Servers that did not answer a heartbeat or a session: tried last
	// on every route until they answer again (SR-16).
	// One row per server (Health.Servers), its addresses in the row.
	for _, sm := range q.cfg.Health.Servers() {
		why := sm.Why
		if len(sm.Addrs) > 0 {
			why = "at " + strings.Join(sm.Addrs, ", ") + ": " + why
		}
		out = append(out, DestinationInfo{Name: "server:" + sm.Name, State: "unresponsive", DeadUntil: time.Time{},
			LastError: why})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Health is the scheduler's record of servers that did not answer; the
// deliverer is given the same (delivery.Config.Health).
func (q *Manager) Health() *Health { return q.cfg.Health }

// destFor returns the destination of a job, creating it on first sight.
// Called with s.mu held.
func (s *scheduler) destFor(key, queue string, max int) *dest {
	d := s.dests[key]
	def := max <= 0
	if def {
		max = s.cfg.MaxWindow
	}
	if d == nil {
		d = &dest{key: key, queue: queue, window: min(s.cfg.InitialWindow, max)}
		s.dests[key] = d
	}
	d.max, d.queue, d.defaultMax = max, queue, def // a reload may change the limit
	d.window = min(d.window, max)
	return d
}

// plan splits an attempt into jobs. It runs on the caller's goroutine
// (a receiving session's, the scheduler's loop): the planner does no
// I/O, so it never waits on a peer (Planner).
func (q *Manager) plan(ctx context.Context, a *attempt, rcpts []int) []Job {
	if p, ok := q.del.(Planner); ok {
		if jobs := p.Plan(ctx, a.m, rcpts); len(jobs) > 0 {
			return jobs
		}
	}
	return []Job{{Rcpts: rcpts}}
}

// start puts a claimed message's jobs in their destinations' queues and
// starts what can start. The message holds its slot of the active set
// until its last job reports (complete).
func (q *Manager) start(ctx context.Context, m *Message, body Body) {
	q.wg.Add(1)
	q.sched.handOn()
	defer q.sched.handOver() // its jobs are queued or handed on: a stall's give-back may take them (stallguard.go)
	// Innermost: the claimed message's jobs go into the scheduler under
	// its lock and pump starts them; a panic there (on a receiving
	// session's goroutine, which recovers its own, or the loop's) may
	// leave the lock held, the message Active with no attempt.
	defer q.crashOnPanic(PanicAttempt, "msg_id", m.ID.String())
	a := &attempt{m: m, body: body, loaded: body.Len() > 0 || body.Spooled()}
	a.settled = q.settling.begin(m.ID) // until a job runs or its answers are committed (settling.go)
	q.inDelivery.Store(m.ID, a)        // until complete returns: a delay note may reach it (delaynote.go)
	if delayNoteMayReach(m) {
		// A note committed between the claim (the record Active) and
		// the Store above found no attempt: it marked the record as
		// stored only, which this attempt's commits would overwrite.
		// Any note whose transaction began after the Store finds the
		// attempt. One that began before it and commits after a plain
		// read began would be seen by neither side (two delay DSNs):
		// a record a note can reach (a copy held for a primary) is read
		// after every writer (ViewSettled: it waits for the commit
		// under way). A record no note can reach is not read.
		marked := func(tx *Tx) error {
			if f := q.sched.markReadHook.Load(); f != nil {
				(*f)(m.ID)
			}
			if st, err := tx.Get(m.ID); err == nil && st.DelayNotified {
				a.noticed.Store(true)
			}
			return nil
		}
		if err := q.store.ViewSettled(marked); err != nil {
			_ = q.store.View(marked) // no write transaction (a closing store): the snapshot at least
		}
	}
	// The start is umbra's code on the message (its recipients filtered,
	// routed and split into jobs): running, until the jobs that start
	// now take over, or none does (queued behind windows: no code runs).
	q.enterOwn(a)
	if q.stopping(ctx) {
		q.complete(ctx, a) // no job ran: due now, no attempt (requeue)
		return
	}
	rcpts := q.attemptable(m)
	if pending := m.Pending(); len(rcpts) == 0 && len(pending) > 0 && !m.Arrived.IsZero() && q.dsnDue(m) {
		// Every pending recipient is held in a suspended queue, and its
		// delay notice or its expiry has come: the commit of no attempt
		// makes the DSN (finish) — a hold does not put it off until the
		// resume (sched24). Each stays held where it waits. (A record
		// without an arrival, written by hand, has nothing due.)
		for _, i := range pending {
			rc := &m.Rcpts[i]
			a.results = append(a.results, Result{Rcpt: i, Outcome: Held, Queue: queueOf(rc), NextHop: rc.NextHop, Reply: rc.LastReply})
		}
		// Its commit may be set aside for DeferLimit (deferResults):
		// not on this goroutine, the scheduler's loop (or a receiving
		// session's inside Submit), as for a throttled attempt below —
		// a hundred held messages' notices would hold claims and
		// heartbeats for a hundred DeferLimits (rr24 F4).
		go q.complete(ctx, a)
		return
	}
	if len(rcpts) == 0 {
		q.leaveOwn(a)
		a.settled()
		q.releaseClaims(m.ID)
		q.hold(m)
		q.release()
		q.wg.Done()
		return
	}
	if q.expiredNow(m, false) {
		// No attempt: the commit of none fails the pending recipients
		// as expired and makes the failure DSN (finish).
		a.expired = true
		go q.complete(ctx, a) // off the loop, as a held message's DSN above
		return
	}
	jobs := q.plan(ctx, a, rcpts)
	now := q.clk.Now()
	waitDue := q.waitDueOf(m, false) // when its waiting jobs are answered (waitdue.go)
	lowered := false
	s := q.sched
	share := max(q.cfg.MaxActive/destShare, 1)
	crowded := q.room() < share
	var run []*job
	q.noteEntered(a, jobs, now) // before any job of it can start and end (a.entered is complete's)
	s.mu.Lock()
	a.left = len(jobs)
	for _, j := range jobs {
		jb := &job{a: a, rcpts: j.Rcpts}
		if j.Dest == "" {
			run = append(run, jb)
			continue
		}
		d := s.destFor(j.Dest, j.Queue, j.Max)
		d.lastUse = now
		delete(d.held, m.ID) // claimed again: a verdict of its own follows
		// A dead destination's jobs are answered at once (pump,
		// answerDead: its mark and its cool-down's end), never held back
		// as busy (rt27d F4: they read "destination busy" and a recheck
		// time, not the death and the cool-down's end).
		if d.holdCap = holdCap(q.cfg.MaxActive, share); crowded && !d.dead(now) && d.busy+len(d.waiting) >= destHoldLimit(q.cfg.MaxActive, share, d.window) &&
			s.reserveNeeded(d, now) {
			// This destination holds its share of a crowded active set:
			// the recipients wait in the time index, not in memory —
			// listed in the destination's queue (throttledIn).
			a.throttled = append(a.throttled, j.Rcpts...)
			for range j.Rcpts {
				a.throttledIn = append(a.throttledIn, j.Queue)
			}
			a.recheck = max(a.recheck, min(max(d.drain(now), time.Second), s.cfg.ThrottleRecheck))
			a.heldBy = append(a.heldBy, d)
			d.hold(m.ID, time.Time{}) // its recheck stamped at its attempt's end
			a.left--
			continue
		}
		jb.d = d
		if len(d.waiting) == 0 {
			s.ring = append(s.ring, d)
		}
		d.waiting = append(d.waiting, jb)
		lowered = s.noteWaiting(waitDue) || lowered
	}
	left := a.left
	s.mu.Unlock()
	if lowered {
		q.Kick() // the loop's sleep may end after this message's notice or expiry (answerWaitingDue)
	}
	for _, jb := range run {
		q.runJob(ctx, jb)
	}
	if left == 0 && len(run) == 0 {
		// Every job held back (throttled): the attempt is done, and its
		// commit may be set aside for DeferLimit — not on this goroutine,
		// which is a receiving session's inside Submit, or the
		// scheduler's loop (as for a dead destination's jobs, pump).
		go q.complete(ctx, a)
		return
	}
	q.pump(ctx)
	q.leaveOwn(a)
}

// pump starts every waiting job whose destination's window has room,
// taking destinations in turn (round robin), and answers at once the
// jobs of a dead destination.
func (q *Manager) pump(ctx context.Context) {
	if q.stallHeld(ctx) {
		return // after a stall, no job starts until the holders were asked; the round's end kicks the loop (stallguard.go)
	}
	s := q.sched
	now := q.clk.Now()
	var run, deadJobs []*job
	var deadQueue []string  // read under s.mu: a reload's destFor rewrites it
	var deadEnd []time.Time // when each dead job's destination's cool-down ends
	s.mu.Lock()
	for progress := true; progress && len(s.ring) > 0; {
		progress = false
		for n := len(s.ring); n > 0 && len(s.ring) > 0; n-- {
			if s.next >= len(s.ring) {
				s.next = 0
			}
			d := s.ring[s.next]
			switch {
			case q.stopping(ctx), d.dead(now):
				for _, jb := range d.waiting {
					deadJobs = append(deadJobs, jb)
					deadQueue = append(deadQueue, d.queue)
					end := d.deadUntil
					if jb.a.m.ID == d.killer {
						end = end.Add(time.Second) // not the probe (jobDone)
					}
					deadEnd = append(deadEnd, end)
				}
				d.waiting = nil
			case d.busy < d.window:
				jb := d.waiting[0]
				// The backing array outlives the pop (a destination lives
				// for an hour idle): a started job's slot must not keep
				// its attempt, and the attempt's body, alive.
				d.waiting[0] = nil
				d.waiting = d.waiting[1:]
				if len(d.waiting) == 0 {
					d.waiting = nil
				}
				d.busy++
				if d.running == nil {
					d.running = map[ID]int{}
				}
				d.running[jb.a.m.ID]++
				jb.started = now
				d.starts = append(d.starts, now)
				jb.gen = d.gen
				jb.deaths = d.deaths
				d.unproven++
				if f := s.startHook.Load(); f != nil {
					(*f)(jb, d)
				}
				run = append(run, jb)
				progress = true
			default:
				s.next++
				continue
			}
			if len(d.waiting) == 0 {
				s.ring = append(s.ring[:s.next], s.ring[s.next+1:]...)
				continue
			}
			s.next++
		}
	}
	s.mu.Unlock()
	if len(deadJobs) > 0 {
		// Answered on a goroutine of their own: the last answer of an
		// attempt commits its results (complete), and that commit may be
		// set aside for DeferLimit when nobody waits for it — while pump
		// runs on the scheduler's loop or on a receiving session's
		// goroutine (Submit → dispatch), whose sender waits for its 250.
		// Each job holds its attempt's slot until then: bounded by the
		// active set.
		go q.answerDead(ctx, deadJobs, deadQueue, deadEnd)
	}
	for _, jb := range run {
		q.runJob(ctx, jb)
	}
}

// answerDead defers the jobs of dead destinations without a connection
// (deadWait: no attempt, due again when the cool-down ends); queue and
// end are each job's destination's queue and the end of its cool-down,
// read under the scheduler's lock. The end is a time, not the time
// left: the results are committed later (with the attempt's other jobs,
// or riding along with another commit), and the time left counted again
// from that commit made each message due after the cool-down's end by
// its own commit's delay — in no order of age, so the probe was not the
// oldest message the cool-down held (rt33 F4), and a recipient whose
// attempt another job held open was due only at that job's retry step
// (rt33 F1). The reply is the bare dead mark: the destination's last
// error was another message's session, never this one's reply
// (deadWaitReply).
func (q *Manager) answerDead(ctx context.Context, jobs []*job, queue []string, end []time.Time) {
	next := 0 // the first job not reported (panics.go)
	defer q.recoverAnswers(ctx, jobs, &next)
	for k, jb := range jobs {
		q.mayPanic(PanicDead)
		if q.stopping(ctx) {
			unstarted(jb)
			next = k + 1
			q.reportOrCrash(ctx, PanicDead, jb, nil, nil)
			continue
		}
		reply := deadReply(jb.d.key, "")
		res := make([]Result, len(jb.rcpts))
		for i, r := range jb.rcpts {
			res[i] = Result{Rcpt: r, Outcome: deadWait, Queue: queue[k], NextHop: jb.d.key, Reply: reply, deadEnd: end[k]}
		}
		jb.a.mu.Lock()
		jb.a.deadOn = append(jb.a.deadOn, jb.d)
		jb.a.mu.Unlock()
		next = k + 1
		q.reportOrCrash(ctx, PanicDead, jb, res, nil)
	}
}

// releaseBusy makes room in a full active set that due mail waits for:
// only work that can start now holds a slot then. The jobs waiting for
// a slot of a destination whose window is full go back to the time
// index on "destination busy" (answerBusy), due again when it drains
// (dest.held) or at their recheck. Each held its message's slot of the
// active set while it waited, and other destinations' mail stayed out
// of the set — behind a next hop hung at its greeting until the hung
// sessions timed out (rt30d F1), and behind a slow but healthy
// destination's backlog until all of it before them in the time index
// was delivered, one slow job at a time (sched31 D2: only the jobs of a
// destination that may hang were given back;
// TestSlowDestinationBacklogLeavesASlotForOthers). The claims that
// follow keep the reserve (dueBlocked, reserveNeeded), so the backlog
// does not fill the set again. It reports how many jobs it took out.
// Called by the loop when mail is due and the set has no room (run).
func (q *Manager) releaseBusy(ctx context.Context, now time.Time) int {
	if q.stopping(ctx) || q.stallBusy() {
		return 0 // the stop sends waiting jobs back (pump); a stall's round gives them back itself (stallguard.go)
	}
	s := q.sched
	var jobs []*job
	var queue []string
	var recheck []time.Duration
	s.mu.Lock()
	for _, d := range s.dests {
		if d.task || len(d.waiting) == 0 || d.busy < d.window || d.dead(now) {
			continue
		}
		wait := min(max(d.drain(now), time.Second), s.cfg.ThrottleRecheck)
		for _, jb := range d.waiting {
			d.hold(jb.a.m.ID, time.Time{}) // its recheck stamped at its attempt's end
			jobs = append(jobs, jb)
			queue = append(queue, d.queue)
			recheck = append(recheck, wait)
		}
		d.waiting = nil
		s.ring = slices.DeleteFunc(s.ring, func(x *dest) bool { return x == d })
	}
	s.mu.Unlock()
	if len(jobs) > 0 {
		// Answered on a goroutine of their own, as a dead destination's
		// (pump): the last answer of an attempt commits its results,
		// which may be set aside for DeferLimit.
		go q.answerBusy(ctx, jobs, queue, recheck)
	}
	return len(jobs)
}

// answerBusy answers the jobs releaseBusy took out of their queues as
// the claim answers the jobs of a destination that holds its share of a
// crowded active set (start): throttled, not attempted, in the time
// index until the destination drains (dest.held) or their recheck;
// queue and recheck are each job's destination's queue and recheck,
// read under the scheduler's lock. The last answer of an attempt
// commits it and gives its slot back.
func (q *Manager) answerBusy(ctx context.Context, jobs []*job, queue []string, recheck []time.Duration) {
	next := 0 // the first job not reported (panics.go)
	defer q.recoverAnswers(ctx, jobs, &next)
	for k, jb := range jobs {
		q.mayPanic(PanicDead)
		a := jb.a
		if q.stopping(ctx) {
			unstarted(jb)
			next = k + 1
			q.reportOrCrash(ctx, PanicDead, jb, nil, nil)
			continue
		}
		a.mu.Lock()
		a.throttled = append(a.throttled, jb.rcpts...)
		for range jb.rcpts {
			a.throttledIn = append(a.throttledIn, queue[k])
		}
		a.recheck = max(a.recheck, recheck[k])
		a.heldBy = append(a.heldBy, jb.d)
		a.mu.Unlock()
		next = k + 1
		q.reportOrCrash(ctx, PanicDead, jb, nil, nil)
	}
}

// stopReply is the reply of a recipient whose attempt the server's stop
// cut: a connect "operation was canceled" or a connection lost during
// DATA is then umbra's own doing, not the next hop's failure. It does
// not count against the destination's window (feedback), and the
// interrupted attempt uses no retry step (finish).
const stopReply = "451 4.3.2 delivery stopped by shutdown (shutting down): not the next hop's failure"

// stoppedByShutdown rewrites the deferrals of an attempt the stop cut
// (its context done) as stopReply; what the next hop took stays.
func stoppedByShutdown(res []Result) []Result {
	for i := range res {
		if res[i].Outcome == Deferred {
			res[i].Reply = stopReply
		}
	}
	return res
}

// runJob runs one job in its own goroutine (a worker kept from an
// earlier job when one is parked, workers.go): the number of these is
// bounded by the windows (and by the active set for jobs without one).
// The job counts as umbra's code on the message from here (before its
// goroutine runs, so that the attempt's start hands over to it without
// a free slot between) until the deliverer waits on a peer, and again
// after; its body load is inside.
func (q *Manager) runJob(ctx context.Context, jb *job) {
	a := jb.a
	suspect := a.m.CrashCount > 0
	var jctx context.Context
	var pw *peerWaitJob
	if !suspect {
		jctx, pw = q.withJob(ctx, a)
	}
	q.sched.handOn() // until its start check: a stall's give-back waits for it (stallguard.go)
	q.workers.run(func() {
		for turn := true; ; {
			if suspect {
				// Its attempt's turn first, and only then umbra's code
				// (suspectgate.go, "Suspects"): waiting for the turn
				// runs nothing on it. The turn goes back when nothing
				// of the attempt runs any more (markPhase). A stall's
				// give-back ends the wait (the job is parked at its
				// check).
				// Waiting for it is no wait on a peer but on another
				// suspect: the message's slot of the active set is lent
				// meanwhile (turnwait.go), so mail that counted no crash
				// is claimed beside the suspects — while the job waits
				// only, not when it takes the turn at once.
				turn = q.suspects.acquire(ctx, a, q.clk, q.cfg.SuspectTurn, q.sched.parking.Load,
					func() func() { return q.lendSlot(a) })
				if f := q.suspects.acquired.Load(); f != nil {
					(*f)(a)
				}
				if !turn {
					jctx, pw = q.withJob(ctx, a)
				} else if jctx, pw = q.withJobInTurn(ctx, a); pw == nil {
					// The turn went back between the acquire and
					// this start (nothing of the attempt ran for
					// that instant: its start had left its own
					// section): taken again, not run without it.
					continue
				}
			}
			check := q.parkForStall(ctx, jb, turn)
			if check == startJob {
				break
			}
			if f := q.sched.parkedHook.Load(); check == parkedJob && f != nil {
				(*f)(jb)
			}
			q.jobLeft(pw) // not started: nothing of umbra's runs on it until it is put back, or has the turn
			if check == parkedJob {
				q.sched.handOver() // after it left: the give-back then finds its attempt as it is (stallguard.go)
				return
			}
		}
		reported := false // jobDone called: a panic from there on crashes (panics.go)
		defer func() {
			if r := recover(); r != nil {
				// A panic of the job's own code (panics.go): it ends
				// with no result, its recipients pending for the retry.
				q.recovered(PanicJob, r, "msg_id", a.m.ID.String())
				if !reported {
					noResult(jb)
					func() {
						defer q.crashOnPanic(PanicJob, "msg_id", a.m.ID.String())
						q.jobDone(ctx, jb, nil, pw)
					}()
				}
			}
		}()
		defer q.jobLeft(pw) // a panic outside deliver's recover; otherwise report left it already
		done := func(res []Result) {
			reported = true
			// Innermost: jobDone takes the scheduler's lock and the
			// attempt's, pumps and reports; a panic there may leave
			// either held, a started job or the attempt's end undone.
			defer q.crashOnPanic(PanicJob, "msg_id", a.m.ID.String())
			q.jobDone(ctx, jb, res, pw)
		}
		q.mayPanic(PanicJob)
		if q.stopping(ctx) {
			// The server is stopping: no new delivery begins (the
			// message is due at once at the next start, no attempt).
			unstarted(jb)
			done(nil)
			return
		}
		if q.expiredNow(a.m, a.noticed.Load()) {
			// Its expiry came while the job waited for its
			// destination's slot: no connection starts for it (an
			// attempt already running is cut: expirycut.go). The commit fails
			// its recipients as expired (finish), as at a claim.
			func() { // deferred unlock: a panic here leaves a.mu free for the recover's report
				a.mu.Lock()
				defer a.mu.Unlock()
				a.expired = true
			}()
			done(nil)
			return
		}
		if func() bool { // deferred unlock: a panic here leaves a.mu free for the recover's report
			a.mu.Lock()
			defer a.mu.Unlock()
			return a.panicked != ""
		}() {
			// A job of its attempt panicked while this one waited for
			// its destination's slot: the attempt goes to the poison
			// queue, which keeps only what the jobs committed
			// themselves (complete), so nothing new is sent for it — a
			// relay left to the end's commit would stay pending there
			// and go again at a release.
			done(nil)
			return
		}
		if jb.retry && q.expiredBy(a.m, q.clk.Now()) {
			// A sibling retry whose expiry came while it waited for its
			// slot: as at its firing, the end fails it with the first reply.
			done(nil)
			return
		}
		body, err := a.loadBody(q)
		if err != nil {
			done(nil)
			return
		}
		a.mu.Lock()
		if a.started == nil {
			a.started = map[int]bool{}
		}
		for _, i := range jb.rcpts {
			a.started[i] = true
		}
		a.mu.Unlock()
		// Its attempt's delay notice, should it fall due while a job
		// of it still runs (noticecommit.go).
		q.armNotice(ctx, a)
		// A group of the job that ends before the others has its
		// results committed then (groupreport.go).
		gctx := withGroupReport(jctx, func(rctx context.Context, res []Result) {
			a.mu.Lock()
			if jb.retry {
				a.retriedLocked(res)
			}
			a.known = append(a.known, res...)
			a.mu.Unlock()
			// Its commit, while the rest of the job goes on after it
			// (another group, recipients waiting for their mailbox's
			// turn): waiting for it runs none of umbra's code on the
			// message, as the end's wait for its commit does not
			// (peerwait.go) — a wait of the reporting group's strand
			// alone (rctx), from the hand-off to the store to its
			// return; what commitJob does before and after is umbra's
			// code, as the end's is (rrdelivrt41).
			q.commitJobWaiting(ctx, rctx, a, res)
		})
		res, panicked := q.deliver(gctx, a, body, jb.rcpts)
		if jctx.Err() != nil {
			res = stoppedByShutdown(res)
		}
		func() { // deferred unlock: a panic here leaves a.mu free for the recover's report
			a.mu.Lock()
			defer a.mu.Unlock()
			if jb.retry {
				a.retriedLocked(res) // before res joins them: report appends it to a.results
			}
			a.known = append(a.known, res...)
			a.attempted = append(a.attempted, jb.rcpts...)
			if panicked != "" {
				a.panicked = panicked
				a.endSiblingRetries() // poisoned: no retry starts a delivery the poison record would not keep (siblingretry.go)
			}
		}()
		done(res)
	})
}

// unstarted marks a job the stop kept from starting: it is answered
// without a result, and its attempt is interrupted (finish: its pending
// recipients due now, no attempt counted), whatever its other jobs did.
func unstarted(jb *job) {
	jb.a.mu.Lock()
	jb.a.stopped = true
	jb.a.mu.Unlock()
}

// loadBody loads the body once per attempt, when its first job starts:
// a small one whole, a spooled one as its head and file reference (the
// file is read by the deliverer, streaming).
func (a *attempt) loadBody(q *Manager) (Body, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.ran = true
	if a.settled != nil {
		a.settled() // in delivery from now on (settling.go)
	}
	if a.loaded || a.bodyErr != nil {
		return a.body, a.bodyErr
	}
	a.bodyErr = q.store.View(func(tx *Tx) error {
		var err error
		a.body, err = tx.BodyOf(a.m.ID)
		return err
	})
	if a.bodyErr == nil {
		a.bodyErr = a.body.verifySpool() // its checksum too (checksum.go): nothing goes out of a changed file
	}
	a.loaded = a.bodyErr == nil
	return a.body, a.bodyErr
}

// jobDone gives a finished job's window slot back, with the feedback of
// its results, and reports them; the job (pw) ends in report.
func (q *Manager) jobDone(ctx context.Context, jb *job, res []Result, pw *peerWaitJob) {
	if d := jb.d; d != nil {
		now := q.clk.Now()
		s := q.sched
		s.mu.Lock()
		d.busy--
		if d.running[jb.a.m.ID]--; d.running[jb.a.m.ID] <= 0 {
			delete(d.running, jb.a.m.ID)
		}
		if k := slices.Index(d.starts, jb.started); k >= 0 {
			d.starts = slices.Delete(d.starts, k, k+1)
		}
		proof := jb.gen == d.gen // it started after the last proof
		if proof {
			d.unproven--
		}
		took := now.Sub(jb.started)
		if d.avg == 0 {
			d.avg = took
		} else {
			d.avg = (7*d.avg + took) / 8
		}
		fb, decided := feedbackOf(res)
		msgFailed := false
		// A job started before the destination's latest dead mark ends
		// after it: its result is of a session older than the mark and
		// says nothing of the destination since — its success does not
		// clear the failures in a row and the last error that made it
		// dead nor widen its window, its failure does not count as the
		// probe's; the cool-down's probe decides (deliv47: "destination
		// dead", then its failures gone, shown failing or idle, by a
		// session opened before it died).
		stale := jb.deaths != d.deaths
		switch {
		case stale:
		case fb == +1:
			d.streak, d.cohort, d.lastErr, d.lastHop, d.nextTry = 0, 0, "", "", time.Time{}
			d.msgFails = 0
			d.window = min(d.window+1, d.max)
			d.prompt = true
			if proof {
				d.gen++
				d.unproven = 0 // every job running now started before this proof
			}
		case fb == -1:
			d.prompt = false
			if d.streak == 0 {
				d.cohort = d.window
			}
			d.streak++
			d.lastErr, d.lastHop = decided.Reply, decided.NextHop // the failure that shrank it, not res[0]
			d.window = max(d.window-1, 1)
			if d.streak >= d.cohort && !d.dead(now) {
				// A failed cohort: as many failures in a row as the
				// window allowed at once. No connection for a while;
				// then one probe.
				d.deadUntil = now.Add(q.sched.cfg.DeadCoolDown)
				d.deaths++ // the jobs running now started before the mark (stale)
				d.window = 1
				d.killer = jb.a.m.ID
				// The message whose failure made it dead is not the
				// probe at the cool-down's end: it is due a second
				// after, behind the mail the cool-down held (due at
				// its end), so the probe is another message when one
				// waits — one message's failures do not decide, cool-
				// down after cool-down, whether the others are tried
				// (rt32d F2: the hung message was the probe again). Its
				// jobs answered by the dead mark meanwhile (its retry
				// capped at its delay notice) are due a second after
				// the cool-down's end too (killer, pump).
				for i := range res {
					res[i].notBefore = d.deadUntil.Add(time.Second)
				}
				q.log.Warn("destination dead", "next_hop", d.key, "failures", d.streak, "until", d.deadUntil, "err", d.lastErr)
			}
		case fb == 0:
			if r, ok := arrivedFailure(res); ok {
				// Recorded for the operator only (msgFails): no change
				// of window, streak or death.
				d.msgFails++
				msgFailed = true
				d.lastErr, d.lastHop = r.Reply, r.NextHop
			}
		}
		var wake []ID
		if d.drained(now) {
			wake = d.wakeSome(now)
		}
		if d.busy == 0 && len(d.waiting) == 0 && s.dests[d.key] == d && q.unnamed(d) {
			// Its connector was renamed or removed by a reload while
			// this job ran (SetReloadable): no job will name it again.
			delete(s.dests, d.key)
			wake = append(wake, d.wakeSome(now)...) // the rest wait for their recheck
		}
		s.mu.Unlock()
		if fb < 0 || msgFailed {
			jb.a.mu.Lock()
			jb.a.failedOn = append(jb.a.failedOn, d)
			jb.a.mu.Unlock()
		}
		q.wakeHeld(wake)
		// The freed slot goes to the next waiting job now, not after
		// the results' commit: that commit may wait for another to
		// ride along with (Store.UpdateDeferred).
		q.pump(ctx)
	}
	q.report(ctx, jb, res, pw)
	q.pump(ctx)
}

// arrivedFailure: the first of res deferred after its whole message was
// sent with no readable answer to its end (MayHaveArrived), or by a TLS
// policy refusal (X.7.5: the connector's `tls: required` to a next hop
// without STARTTLS, MTA-STS, DANE, REQUIRETLS) — the message's failure,
// which feedback does not count against the destination, but which the
// operator is shown (dest.msgFails): a next hop that fails every
// message's policy was shown idle, no failure, no last error, while all
// its mail waited (rt43-outbound F1).
func arrivedFailure(res []Result) (Result, bool) {
	for _, r := range res {
		if r.Outcome != Deferred || expiredUnsent(r.Reply) {
			continue
		}
		if !r.Answered && messageFailure(r.Reply, r.NextHop) {
			return r, true
		}
	}
	return Result{}, false
}

// messageFailure: reply, recorded against nextHop, is a deferral that
// is its message's failure, not the destination's (feedback 0), and
// shown as the destination's last error: no readable answer to the end
// of a message sent whole, a TLS policy refusal, or a next hop that is
// this server itself (RoutingLoop: the configuration's loop, which
// every message to it meets while the destination shows nothing wrong).
func messageFailure(reply, nextHop string) bool {
	return MayHaveArrived(reply) || enhanced(reply) == "4.7.5" || RoutingLoop(reply, nextHop)
}

// failing: failures in a row since its last success — of the session
// (streak) or of messages after their final dot (msgFails).
func (d *dest) failing() bool { return d.streak > 0 || d.msgFails > 0 }

// feedback is a job's signal to its destination's window: +1 when the
// next hop answered (whatever it answered: Result.Answered, a host's
// own reply in a session it did not close — its "451 4.4.2 too busy" to
// MAIL, its own 4.7.5 too), −1 when it could not be reached or broke
// the session: a 421 of the host, whatever its enhanced status or none
// (it closes the session, RFC 5321 §3.8: "421 4.7.0 too many
// connections from your IP", "421 4.3.2 shutting down" as much as
// "421 4.4.2"), and every result deferred with a network-and-routing
// status (RFC 3463 X.4.X: no answer, bad connection, DNS, routing) in
// umbra's words on its attempt at the host, or a host's own 4.4.2
// whose result does not say it answered — a relay's own 4.4.1, 4.4.3 or
// 4.4.4 about a host beyond it is its answer (HostsOwnReply), and so is
// umbra's deferral of a reply out of step or stray (HostsAnswered); a
// recipient's last reply read after a restart says whether its host
// answered by its words (AnsweredReply, destFailure) — and 0 for jobs the deliverer answered
// without trying (held, shutdown), for a message-specific failure (the
// whole message was sent and its end got no readable reply:
// MayHaveArrived), for hosts that answered and did not take the message
// (NotSentReply: neither a failed contact nor a success), or whose every result is a TLS policy refusal (X.7.5:
// MTA-STS, DANE, REQUIRETLS, TLS required by the connector): the host
// answered, the policy failed for that message, so a message that may go
// without TLS still goes and the refused ones keep the policy reason as
// their last error, not "destination is dead" (rt17f-F3).
func feedback(res []Result) int {
	fb, _ := feedbackOf(res)
	return fb
}

// feedbackOf is feedback and the result that decided it: the one that
// answered (+1), or the first failure of the destination (−1), which is
// its last error — not whatever result came first in the job.
func feedbackOf(res []Result) (int, Result) {
	var failed Result
	tried := false
	for _, r := range res {
		switch r.Outcome {
		case Held:
			continue
		case Deferred:
			if HostClosed(r.Reply) {
				// The host closed its session with a 421, whatever its
				// enhanced status (or none): no answer to the command,
				// the destination's failure (deliv47: a 421 4.7.0 or
				// 4.3.2 counted as an answer and grew the window of a
				// host throttling umbra).
				if !tried {
					failed = r
				}
				tried = true
				continue
			}
			if notSent(r.Reply) {
				// Hosts that answered and did not take this message (its
				// content, a session refused for good), the rest cut by
				// a limit: no failed contact, and no success of the
				// destination either — the message failed there, and a
				// job that delivered nothing neither widens the window
				// nor clears the failures in a row (deliv47: its
				// Answered counted +1).
				continue
			}
			if r.Answered {
				// The host's own reply to the command, its session kept
				// (or ended by umbra after a reply out of step): it
				// answered, whatever the reply's status — a host's own
				// "451 4.4.2 too busy" to MAIL, its own 4.7.5, are
				// deferrals of this message, not a failed contact (rt44
				// delivery2 F4: three of them made a healthy
				// destination dead).
				return +1, r
			}
			code := enhanced(r.Reply)
			if expiredUnsent(r.Reply) {
				continue // the message's expiry ended the transaction, not the host (expirycut.go)
			}
			if MayHaveArrived(r.Reply) {
				// The next hop took the session, the envelope and the
				// whole body, then dropped the connection or never
				// answered the final dot: this message's failure, not
				// evidence that the destination is dead for the others
				// (rt32d F2; Postfix's qmgr throttles a site only on
				// failures of the session itself).
				continue
			}
			if RoutingLoop(r.Reply, r.NextHop) {
				// The next hop is this server itself: a loop of the
				// configuration, not a host that did not answer (it
				// answered, with this server's database id, or was
				// never connected to) — shown, not counted
				// (messageFailure).
				continue
			}
			if (code == "4.4.2" || strings.HasPrefix(code, "4.4.") && !HostsOwnReply(r.Reply, r.NextHop)) && !HostsAnswered(r.Reply, r.NextHop) {
				// umbra's words: the host not reached, or its session
				// broke — or, read by its words alone, the host's own
				// 4.4.2 whose result does not say it answered and kept
				// its session (Answered above, rt44 delivery2 F4); a
				// relay's own 4.4.1, 4.4.3 or 4.4.4 about a host beyond
				// it is an answer (errtext44), and so is a reply out of
				// step or stray (HostsAnswered: the host answered; one
				// confused session must not make a healthy destination
				// dead, rrdeliv44). After a restart the stored words
				// say whether the host answered (AnsweredReply,
				// destFailure).
				if !tried {
					failed = r
				}
				tried = true
				continue
			}
			if code == "4.7.5" {
				continue // the message's TLS policy, not the host's failure
			}
			if r.Reply == PanicReply {
				continue // umbra's defect, recovered: nothing of the host
			}
			if stoppedByStop(r.Reply) {
				continue
			}
		}
		return +1, r
	}
	if tried {
		return -1, failed
	}
	return 0, Result{}
}

// enhanced extracts the enhanced status code of a reply "451 4.4.1 text".
func enhanced(reply string) string {
	_, rest, ok := strings.Cut(reply, " ")
	if !ok {
		return ""
	}
	code, _, _ := strings.Cut(rest, " ")
	return code
}

// report adds a job's results to its attempt and ends the job (pw; nil
// for a job that never ran); the last job's report completes the
// attempt, another's commits what it finished (commitJob). The
// attempt's end, umbra's code, begins before the last job ends: one
// phase for the poison heuristic, no free slot between.
func (q *Manager) report(ctx context.Context, jb *job, res []Result, pw *peerWaitJob) {
	a := jb.a
	a.mu.Lock()
	if jb.noResult {
		a.ran = true
		a.attempted = append(a.attempted, jb.rcpts...)
	}
	a.results = append(a.results, res...)
	a.left--
	last := a.left == 0
	if last {
		a.own++
		// Nothing of it is delivered any more: an operator's command
		// waits for the end's commit (settling.go), not refused ErrBusy.
		a.endMark = q.settling.begin(a.m.ID)
	}
	if pw != nil {
		q.jobLeftLocked(pw)
	} else if last {
		q.markPhase(a)
	}
	a.mu.Unlock()
	if last {
		q.complete(ctx, a)
	} else if len(res) > 0 {
		q.commitJob(ctx, a, res)       // what it finished, committed now (jobcommit.go)
		q.armSiblingRetry(ctx, a, res) // what it deferred, retried on time (siblingretry.go)
	}
}

// complete commits an attempt whose jobs have all reported and gives
// its slot of the active set back. It is called inside a section of
// umbra's code on the attempt (enterOwn, or report's), which it leaves
// before anything is committed: a crash while its results wait for
// their commit does not count against the message (peerwait.go).
func (q *Manager) complete(ctx context.Context, a *attempt) {
	defer q.wg.Done()
	defer q.release()
	defer q.inDelivery.CompareAndDelete(a.m.ID, a)
	if a.settled != nil {
		defer a.settled() // its answers committed (settling.go)
	}
	// Claims go with the results' commit: one still pending keeps them
	// until it goes through (pendingresults.go).
	defer func() {
		if !q.resultsPending(a.m.ID) {
			q.releaseClaims(a.m.ID)
		}
	}()
	if a.endMark != nil {
		// Its last job's results committed (settling.go): ended before
		// the claims go, so that a new claim's mark is its own.
		defer a.endMark()
	}
	left := false
	leave := func() {
		if !left {
			left = true
			q.leaveOwn(a)
		}
	}
	defer leave()
	// A held entry is zero while the attempt runs and stamped with the
	// recheck its commit set at the end below; an attempt that ends
	// another way (poisoned: a job panicked, its body unreadable; a
	// commit that set no recheck) would leave it zero, never forgotten.
	defer func() {
		if len(a.heldBy) == 0 {
			return
		}
		q.sched.mu.Lock()
		defer q.sched.mu.Unlock()
		for _, d := range a.heldBy {
			if until, ok := d.held[a.m.ID]; ok && until.IsZero() {
				delete(d.held, a.m.ID)
			}
		}
	}()
	defer q.crashOnPanic(PanicAttempt, "msg_id", a.m.ID.String()) // innermost: a lock may be held, the end half done (panics.go)
	q.mayPanic(PanicAttempt)
	m := a.m
	early := q.endJobs(a) // after its jobs' own commits (jobcommit.go)
	if a.noticed.Load() {
		m.DelayNotified = true // its notice went while a job ran (noticecommit.go): none again
	}
	if f := q.sched.endReadHook.Load(); f != nil {
		(*f)(m.ID)
	}
	switch {
	case a.bodyErr != nil:
		leave()
		q.poisonUnreadable(m, fmt.Sprintf("body unreadable: %v", a.bodyErr)) // before any delivery: given to its copy's holder
		return
	case a.panicked != "":
		leave()
		applyEarly(m, early)
		q.poison(m, a.panicked)
		return
	case !a.ran && len(a.results) == 0 && len(a.throttled) == 0 && !a.expired:
		// Shutting down before any job ran: due now, no attempt counted.
		leave()
		q.requeue(m)
		return
	}
	// finish marks a recipient the deliverer was given but gave no
	// result for ("no result from delivery").
	rcpts := a.attempted
	for k, i := range a.throttled {
		in := queueOf(&m.Rcpts[i])
		if k < len(a.throttledIn) && a.throttledIn[k] != "" {
			in = a.throttledIn[k] // the destination's queue: where it waits (rt27d F4)
		}
		a.results = append(a.results, Result{Rcpt: i, Outcome: throttled, Queue: in,
			Reply: throttledReply(m.Rcpts[i]), wait: a.recheck})
	}
	body := a.body
	if !a.loaded && (needsBody(a.results) || q.dsnDue(m)) {
		if err := q.store.View(func(tx *Tx) error { var err error; body, err = tx.BodyOf(m.ID); return err }); err != nil &&
			!errors.Is(err, ErrClosed) {
			leave()
			q.poison(m, fmt.Sprintf("body unreadable: %v", err))
			return
		}
	}
	// A spool file cut while the attempt read it: every reader failed
	// from the cut on (Body.Reader), so no recipient got it truncated;
	// those it reached whole before are committed, the rest held as
	// poison, as a file cut before the attempt is (loadBody).
	var cut error
	if a.loaded && a.body.Spooled() {
		if cut = a.body.checkSpool(); cut == nil && anyUnreadable(a.results) {
			cut = a.body.verifySpool() // changed while read (checksum.go)
		}
	}
	// Results are committed even when shutdown cut the attempt short:
	// what the next hops accepted must not be sent again.
	for k := range a.results {
		a.results[k].entered = a.entered[a.results[k].Rcpt] // counted in there at the plan (noteEntered)
	}
	q.finish(m, body, rcpts, a.results, early, ctx.Err() != nil || a.stopped, leave)
	q.mayPanic(panicEnded)
	if len(a.heldBy) > 0 && ctx.Err() == nil {
		// A destination that drained while these results waited for
		// their commit found the message still in delivery: it is made
		// due now, as the drain would have.
		now := q.clk.Now()
		s := q.sched
		s.mu.Lock()
		wake := false
		for _, d := range a.heldBy {
			_, still := d.held[m.ID]
			if !still || d.drained(now) {
				wake = true
				delete(d.held, m.ID)
			} else {
				d.held[m.ID] = m.NextAttempt // the recheck its commit set
			}
		}
		s.mu.Unlock()
		if wake {
			q.wakeHeld([]ID{m.ID})
		}
	}
	if len(a.failedOn) > 0 && m.State == Ready && len(m.Pending()) > 0 {
		// Its failing destinations are tried next when it is due
		// again, or earlier mail of theirs is (Destinations).
		now := q.clk.Now()
		s := q.sched
		s.mu.Lock()
		for _, d := range a.failedOn {
			if d.failing() && (!d.nextTry.After(now) || m.NextAttempt.Before(d.nextTry)) {
				d.nextTry = m.NextAttempt
			}
		}
		s.mu.Unlock()
	}
	if len(a.deadOn) > 0 && ctx.Err() == nil {
		// A dead destination the operator revived (retry, resume,
		// flush) before these results committed found the message in
		// delivery, and the retry's commit left it: it is due now, not
		// when the cool-down would have ended.
		now := q.clk.Now()
		s := q.sched
		s.mu.Lock()
		revived := false
		for _, d := range a.deadOn {
			revived = revived || !d.dead(now)
		}
		s.mu.Unlock()
		if revived {
			q.wakeHeld([]ID{m.ID})
		}
	}
	if cut != nil && len(m.Pending()) > 0 {
		q.poisonUnreadable(m, fmt.Sprintf("body unreadable: %v", cut)) // what went out is committed: the rest given to its copy's holder
	}
}

// dsnDue: the commit of m's results may make a delay or a failure DSN
// whatever they are (finish): its delay notification is due, or it
// expires. Such a DSN returns the message's headers, so the body is
// read also for results that need none of their own (a dead
// destination's deferrals, throttles, holds).
func (q *Manager) dsnDue(m *Message) bool {
	pol := q.policy()
	age := q.clk.Now().Sub(m.OrgArrived())
	return age >= pol.MessageExpiration || pol.DelayNotification > 0 && age >= pol.DelayNotification && !m.DelayNotified
}

// dueBy is when m's expiry falls due, or its delay notice if one is
// still owed and comes first. noticed: the notice went beside a running
// job of m's attempt (noticecommit.go), which m, the record its claim
// read, does not show yet — no notice is owed (see expiryBinds).
func (q *Manager) dueBy(m *Message, noticed bool) time.Time {
	pol := q.policy()
	due := m.OrgArrived().Add(pol.MessageExpiration)
	if pol.DelayNotification > 0 && !m.DelayNotified && !noticed {
		if n := m.OrgArrived().Add(pol.DelayNotification); n.Before(due) {
			due = n
		}
	}
	return due
}

// noLaterThanDue caps a retry time at dueBy, so the claim then comes
// when the delay notice or the expiry falls due, not a whole retry step
// later (rt23d F1): at the expiry the claim makes no attempt and fails
// the pending recipients (expiredNow); at the notice it makes the
// attempt, whose commit makes the notice for the recipients it leaves
// pending (none for mail it delivers) — when that attempt ends, or,
// when a job of it still runs noticeGrace later, beside that job
// (noticecommit.go);
// a held message's claim commits no attempt and makes the DSN (start).
func (q *Manager) noLaterThanDue(m *Message, next time.Time) time.Time {
	if m.Arrived.IsZero() {
		return next // no arrival recorded (a record written by hand): nothing falls due
	}
	if due := q.dueBy(m, false); due.Before(next) {
		return due
	}
	return next
}

// expiredNow: m's expiry has come; no attempt starts for it, its
// pending recipients fail with the expiry's status (finish), so that no
// next hop gets it after the Will-Retry-Until its delay DSN gave.
// noticed as for expiryBinds.
func (q *Manager) expiredNow(m *Message, noticed bool) bool {
	return expiryBinds(m, noticed) && q.clk.Now().Sub(m.OrgArrived()) >= q.policy().MessageExpiration
}

// expiryBinds: m's expiry ends its delivery here — the one rule of the
// claim and a waiting job's start (expiredNow), the scan of waiting
// jobs (waitDueOf) and the cut inside an attempt (withExpiry), so that
// none of them starts or cuts what another lets go (rr25 F1, F5). It
// binds every message with an arrival, tried or not: no job starts at
// or after the expiry, and a message still waiting for its first
// attempt (a free connection of its destination) gets its delay notice
// on time and fails at its expiry as "not delivered: no host … had
// replied by the expiry" (rt32d F3: messages that waited behind five
// sessions hung at a greeting got no notice, and at their expiry
// opened new sessions to the hung host, failing minutes later as
// "expired after 9m0s" for 4m). The one exception is a copy taken over
// from a primary and not tried here yet (every pending recipient's
// reply the takeover's note, takenOverUntried): its expiry counts from
// the first server's arrival, which may have passed while the primary
// held it, so it gets its first attempt here (rr25 F1,
// TestTakenOverCopyPastExpiryGetsItsFirstAttempt) — unless its delay
// notice went (here, or at the umbra server it came from: it has a
// Will-Retry-Until to keep). A record without an arrival (written by
// hand) has nothing due.
//
// noticed: the notice went beside a running job of m's attempt
// (noticecommit.go: a.noticed) — the record the attempt's claim read
// (a.m) still says DelayNotified false, and is not copied to say
// otherwise: every place that judges an attempt's message (a waiting
// job's start, the waiting scan, the cut) passes a.noticed here, and
// those judging a record read from the store (the claim) pass false
// (sched26: the scan and the start each copied the rule apart).
func expiryBinds(m *Message, noticed bool) bool {
	return !m.Arrived.IsZero() && (!takenOverUntried(m) || m.Attempts > 0 || answered(m) || m.DelayNotified || noticed)
}

// takenOverUntried: m is a copy taken over from a primary none of whose
// pending recipients was tried here yet (each keeps the takeover's
// note: takeoverRcpt — bare, or carried by an answer that made no
// connection: a dead destination's mark, deadWaitReply, or a throttle's,
// throttledReply).
func takenOverUntried(m *Message) bool {
	pending := m.Pending()
	for _, i := range pending {
		if !strings.HasPrefix(realReply(m.Rcpts[i].LastReply), takeoverPrefix) {
			return false
		}
	}
	return len(pending) > 0
}

// answered: a pending recipient of m keeps a host's reply from an
// attempt (hostReplied) — a next hop tried it, though the attempt may
// have counted none (an operator's retry of mail a dead destination
// deferred at receipt). Umbra's own notes are not tries: not tried
// (held, throttled, stopped, dead with no reply to carry), or a copy
// taken over from a primary ("taken over from", no next hop:
// takeoverRcpt) — that copy's first attempt here comes before its
// delay notice and its expiry.
func answered(m *Message) bool {
	for _, i := range m.Pending() {
		if hostReplied(m.Rcpts[i]) {
			return true
		}
	}
	return false
}

// hostReplied: r's last reply is from an attempt at a next hop — a try
// of the message, not one of umbra's own notes: carried through a dead
// or throttle mark too (realReply), with a next hop named host[addr]
// (as deadWaitReply tests) or the mailbox store (lmtp). That is a
// host's reply, and also a connection to that host that failed (refused,
// a failed TLS handshake) or the mailbox store unreachable: tries all
// the same (expiryBinds), though a DSN names a Remote-MTA only for the
// replies a host gave (dsnReporter).
func hostReplied(r Recipient) bool {
	reply := realReply(r.LastReply)
	switch {
	case reply == "", umbraNote(reply):
		return false
	}
	return IsLMTPHop(r.NextHop) || strings.Contains(r.NextHop, "[")
}

// needsBody: a DSN or a dumpster copy needs the body.
func needsBody(res []Result) bool {
	for _, r := range res {
		if r.Outcome != Held && r.Outcome != throttled && r.Outcome != deadWait {
			return true
		}
	}
	return false
}

func (q *Manager) deliver(ctx context.Context, a *attempt, body Body, rcpts []int) (res []Result, panicked string) {
	defer func() { foldResultPrimaries(res) }() // the topology's spelling of a primary: the one the queue keeps (primaryfold.go)
	m := a.m
	if a.noticed.Load() && !m.DelayNotified {
		// Its delay notice went while another job of the attempt ran
		// (noticecommit.go): what this job carries to another umbra
		// server says so (Message.Carried), or that server would send
		// a second one. The attempt's message itself is the end's.
		cp := *m
		cp.DelayNotified = true
		m = &cp
	}
	defer func() {
		if r := recover(); r != nil {
			q.recovered(PanicJob, r, "msg_id", m.ID.String()) // the message goes to the poison queue (complete)
			panicked = fmt.Sprintf("delivery panicked: %v", r)
		}
	}()
	ctx, endExpiry := q.withExpiry(ctx, m, a.noticed.Load) // nothing of it sent once its expiry passed (expirycut.go)
	defer endExpiry()
	if bd, ok := q.del.(BodyDeliverer); ok {
		return bd.DeliverBody(ctx, m, body, rcpts), "" // streams a spooled body from its file
	}
	b, err := body.Bytes() // a Deliverer that takes bytes (tests, tools)
	if err != nil {
		return unreadable(m, rcpts, err), ""
	}
	return q.del.Deliver(ctx, m, b, rcpts), ""
}

// reviveDead ends every dead destination's cool-down now: an operator who retries mail wants it tried, not deferred
// by a dead mark made before the next hop came back. Each gets one probe
// (window 1) and grows from there. Its failures in a row stay (rt36 F2):
// the operator's retry is no success, and queue destinations' FAILURES
// counts failures since the last one — the probe's failure is one more,
// and alone makes it dead again (a cohort of one: the window it has).
func (q *Manager) reviveDead() (revived []string) {
	now := q.clk.Now()
	s := q.sched
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.dests {
		if d.dead(now) {
			d.deadUntil, d.cohort, d.window = time.Time{}, 1, 1
			q.log.Info("dead destination revived by the operator", "next_hop", d.key)
			revived = append(revived, d.key)
		}
	}
	slices.Sort(revived)
	return revived
}

// pruneDests forgets idle destinations that are neither dead nor
// recently used, so the map stays bounded by the destinations in use,
// and at once an idle one the configuration no longer names (its
// connector renamed or removed by a reload while a job of it ran:
// SetReloadable).
func (q *Manager) pruneDests(now time.Time) {
	s := q.sched
	s.mu.Lock()
	defer s.mu.Unlock()
	// A suspended queue's destination stays while the queue is
	// suspended: its mail is held, never attempted, and it is listed
	// suspended as queue list lists the queue (restoreSuspended).
	q.qmu.Lock()
	suspended := maps.Clone(q.suspended)
	q.qmu.Unlock()
	for k, d := range s.dests {
		if !d.task && suspended[d.queue] && !q.unnamed(d) {
			continue
		}
		if d.busy == 0 && len(d.waiting) == 0 && (q.unnamed(d) || !d.dead(now) && now.Sub(d.lastUse) > time.Hour) {
			delete(s.dests, k)
		}
	}
}

// revivedError is the failure of an operator's action that had revived
// dead destinations (reviveDead) before it failed: that part took effect
// — mail already due to them goes out now — and the answer says so
// (rt51 F7), not only what failed.
type revivedError struct {
	err     error
	revived []string
}

func (e *revivedError) Error() string {
	return fmt.Sprintf("%v; done before the failure: the cool-down of the dead destinations %s was ended (revived), so mail already due to them is delivered now",
		e.err, strings.Join(e.revived, ", "))
}

func (e *revivedError) Unwrap() error { return e.err }

// revivedBefore is err told what reviveDead did before it, nil for nil.
func revivedBefore(err error, revived []string) error {
	if err == nil || len(revived) == 0 {
		return err
	}
	return &revivedError{err: err, revived: revived}
}

// LastErrorShown is reply as a one-line column shows it (message list's
// and queue list's LAST ERROR): for a recipient deferred behind a dead
// destination, its last real reply first — the reason, which a cut
// column would otherwise lose behind the dead mark (rt23c F5) — and the
// dead destination after it; for one whose retry waits for a slot of
// a busy destination, likewise its host's last reply first
// (throttledReply); for one held in a suspended queue after its next
// hop answered (CurrentError: the hold, then that reply), that reply
// first and the hold after it (dsnlast47); any other reply as it is.
func LastErrorShown(reply string) string {
	if hold, last, ok := strings.Cut(reply, lastReplyText); ok && heldBy(hold) != "" && last != "" {
		// A hold, then the next hop's reply kept beside it
		// (CurrentError, heldShown): the reply first.
		return last + " (queue " + heldBy(hold) + " suspended by the administrator)"
	}
	if isThrottleReply(reply) {
		if last := realReply(reply); last != reply {
			return last + " (destination busy: waiting for a delivery slot)"
		}
		return reply
	}
	key, ok := deadDest(reply)
	if !ok {
		return reply
	}
	if last := realReply(reply); last != reply {
		return last + " (destination " + key + " dead: no connection until its cool-down ends)"
	}
	return reply
}
