package queue

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"umbra/internal/clock"
	"umbra/internal/panicline"
)

// stallTick is how often the stall guard reads the clock at the most:
// a reading later than the last by more than the guard's bound means the
// process did not run in between (SIGSTOP, a long stall), since the
// monotonic clock runs on while a process is stopped. A guard whose
// bound is short reads it more often (tick).
const stallTick = time.Second

// tick is how often the guard reads the clock: a quarter of its bound,
// a second at the most, so that two ticks (the floor that keeps a late
// tick from passing for a stall) stay under the bound and any stall
// longer than it is noticed. With the floor at two one-second ticks, a
// stall of 1–2 s went unnoticed while a holder set to
// shadow_heartbeat_timeout 1s × shadow_heartbeat_retry_count 1 took the
// copies over after about one (watch40 item 3).
func (g *stallGuard) tick() time.Duration {
	return min(stallTick, max(g.after()/4, 10*time.Millisecond))
}

// bound is the gap between two readings of the clock that counts as a
// stall.
func (g *stallGuard) bound() time.Duration {
	return max(g.after(), 2*g.tick())
}

// stallGuard holds new delivery attempts after the process did not run
// for longer than a shadow server may take to take its copies over
// (GuardStall): until a round of questions to the holders (the start's,
// shadow.Holders.AskFirst, bounded by the caller) has run, so that what
// a shadow server finished meanwhile is known before an attempt here
// delivers or reports it again. The start asks the same questions
// before the queue starts (serve); this is the same round for a process
// that had no start.
type stallGuard struct {
	after func() time.Duration      // a shorter stall cannot have let a takeover happen
	round func(ctx context.Context) // bounded by itself

	mu   sync.Mutex
	last time.Duration // reading (awake) of the last check: the latest noted, never taken back
	busy bool          // a round runs: no attempt starts
	// again: a stall was noticed while the round ran (or at its end):
	// the next round starts at its end, the attempts held until then.
	again bool

	// warned paces the stall's WARN (panicline.Gate.Due): the first of
	// an incident at once, then one a minute at most, saying how many
	// stalls were left out since the last line.
	warned panicline.Gate
}

// GuardStall makes the scheduler notice that the process did not run for
// longer than after() and then run round before any new attempt starts
// (claimDue and pump hold until it returns; attempts running are not
// touched). round bounds its own time. Call it before Start.
func (q *Manager) GuardStall(after func() time.Duration, round func(ctx context.Context)) {
	q.stall = &stallGuard{after: after, round: round, last: q.awake()}
}

// awake is the stall guard's reading: the clock's time a suspend of the
// machine included (clock.Boottime), else its monotonic reading. A
// holder on another machine counts a suspend of this one as any stall
// (rrstall41 item 1); Go's monotonic clock (CLOCK_MONOTONIC) does not.
func (q *Manager) awake() time.Duration {
	if b, ok := q.clk.(clock.Boottime); ok {
		return b.Boottime()
	}
	return q.mono()
}

// mono is the clock's monotonic reading (the wall clock's where the
// clock has none).
func (q *Manager) mono() time.Duration {
	if m, ok := q.clk.(clock.Monotonic); ok {
		return m.Monotonic()
	}
	return time.Duration(q.clk.Now().UnixNano())
}

// runStallGuard reads the clock every tick until ctx ends, so that a
// stall is noticed as the process runs on even when nothing is due.
func (q *Manager) runStallGuard(ctx context.Context) {
	for {
		t := q.clk.NewTimer(q.stall.tick())
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
		q.stallHeld(ctx)
	}
}

// stallHeld reports whether new attempts wait for the stall guard's
// round; it starts the round when the clock moved on by more than the
// guard's delay since the last check (of the ticker or of a dispatch,
// whichever runs first after the process resumes).
func (q *Manager) stallHeld(ctx context.Context) bool {
	if q.stall == nil {
		return false
	}
	return q.stallNoted(ctx, q.awake())
}

// stallNoted is stallHeld with the reading now taken.
func (q *Manager) stallNoted(ctx context.Context, now time.Duration) bool {
	g := q.stall
	if g == nil || q.stopping(ctx) {
		return false
	}
	var warn []any
	defer func() {
		if warn != nil {
			// "may": the bound is the shortest a holder can be set to
			// (serve.go stallAfter), not what the holders wait.
			q.log.Warn("this server did not run for longer than a shadow server may wait before it takes copies over; new delivery attempts wait until the shadow servers are asked what they finished", warn...)
		}
	}()
	g.mu.Lock()
	defer g.mu.Unlock()
	if now <= g.last {
		// Taken before a reading already noted: the goroutine that
		// took it was descheduled before its check (under load), and
		// the process ran meanwhile. Noting it would take last back
		// and count that goroutine's delay in the next gap as time the
		// process did not run (stall41 item 1).
		return g.busy
	}
	gap := now - g.last
	g.last = now
	if bound := g.bound(); gap > bound {
		if left, ok := g.warned.Due(q.clk.Now()); ok {
			warn = []any{"stalled", gap.Round(10 * time.Millisecond), "bound", bound}
			if left > 0 {
				warn = append(warn, "suppressed", left)
			}
		}
		if g.busy {
			// Stopped while the round ran: what the holders answered
			// before may be out of date (a copy taken over since), so
			// the round's end asks them again before any attempt
			// starts (rrstall41 item 1).
			g.again = true
		} else {
			q.stallRoundLocked(ctx)
		}
	}
	return g.busy
}

// stallRoundLocked starts the stall's round (the give-back, then the
// questions to the holders), g.mu held. At its end a stall noticed while
// it ran (again) starts the next round at once, the held attempts still
// held; otherwise they start.
func (q *Manager) stallRoundLocked(ctx context.Context) {
	g := q.stall
	g.busy = true
	// From now on a job at its start check is parked, not started
	// (parkForStall): set before the round's goroutine runs, so that
	// a job that resumes first cannot slip past.
	q.sched.parking.Store(true)
	q.suspects.wake()
	q.wg.Add(1)
	go func() {
		defer q.wg.Done()
		defer func() {
			// A panic in the round ends it as a round that
			// returned: attempts start again (panics.go).
			if r := recover(); r != nil {
				q.recovered(PanicStall, r)
				q.unparkAll() // what the give-back did not take
			}
			g.mu.Lock()
			// The round's end is a reading as any: the round's own
			// time is no stall (the tick read the clock while it
			// ran), but a stop after the holders answered — the
			// round returned, the process stopped before this end —
			// is one, noticed here first or by the tick (again).
			if now := q.awake(); now > g.last {
				if now-g.last > g.bound() {
					g.again = true
				}
				g.last = now
			}
			if g.again && !q.stopping(ctx) {
				g.again = false
				q.stallRoundLocked(ctx)
				g.mu.Unlock()
				return
			}
			g.again = false
			g.busy = false
			g.mu.Unlock()
			q.startAfterRound(ctx)
			q.Kick()
		}()
		q.mayPanic(PanicStall)
		// The give-back holds the scheduler's lock without a deferred
		// unlock: a panic in it crashes (the recover above would block
		// on that lock in unparkAll), as a scheduler section does.
		func() {
			defer q.crashOnPanic(PanicStall)
			q.giveBackUnstarted(ctx)
		}()
		q.stallAsking()
		g.round(ctx)
	}()
}

// stallAsking notes the clock as the round's questions to the holders
// start: a stall before — the round's goroutine late to run, the
// give-back waiting for the jobs to settle and committing — is one the
// holders' answers postdate (what they took over meanwhile they say), so
// it starts no second round; only a stall from here to the round's end
// does (again). Counted, it asked them twice, and on a busy machine,
// where the give-back is what runs late, each round could start the next
// and no attempt ever started (rr2stall41 item 1).
func (q *Manager) stallAsking() {
	g := q.stall
	g.mu.Lock()
	defer g.mu.Unlock()
	if now := q.awake(); now > g.last {
		g.last = now
	}
	g.again = false
}

// stallSettle bounds how long a stall's give-back waits for the jobs
// handed on before the stall to reach their start check
// (giveBackUnstarted): they only have to be scheduled; a start that
// does not get there in time runs as one in its session, after the
// round (parkForStall holds it while the round runs). New attempts thus
// wait up to stallSettle, the give-back's commit and the round.
const stallSettle = 2 * stallTick

// handOn counts a start, or a job handed on to a worker (runJob), until
// handOver: it has not reached its start check yet.
func (s *scheduler) handOn() {
	s.mu.Lock()
	s.handing++
	s.mu.Unlock()
}

// handOver ends handOn.
func (s *scheduler) handOver() {
	s.mu.Lock()
	s.handOverLocked()
	s.mu.Unlock()
}

func (s *scheduler) handOverLocked() {
	s.handing--
	select {
	case s.handed <- struct{}{}:
	default:
	}
}

// startCheck is what a job's start check (parkForStall) decided.
type startCheck int

const (
	startJob  startCheck = iota // it starts
	parkedJob                   // parked (given back or put back by giveBackUnstarted) or held until the round's end (startAfterRound); the job leaves its attempt, then hands over
	waitTurn                    // a suspect let go of its wait for the turn by a give-back that has ended: it waits again
)

// parkForStall is a job's start check after a stall (stallHeld): while
// the guard gives back the jobs not started (parking), the job is taken
// off its destination's running count and parked; giveBackUnstarted
// then gives back its attempt, or puts it back where it was. While the
// round runs after that, the job is held the same way and started at
// the round's end (startAfterRound). turn: the job holds the suspects'
// turn, or needs none.
//
// A parked or held job still counts as umbra's code on its message
// (withJob) until runJob ends it (jobLeft): only then does it hand over
// (handOver), so that the give-back, which looks once every job it
// waits for handed over, never finds the attempt in its session for
// the parked job's own count (reread22b F1).
func (q *Manager) parkForStall(ctx context.Context, jb *job, turn bool) startCheck {
	q.stallHeld(ctx) // a stall noticed here first starts the give-back
	s := q.sched
	s.mu.Lock()
	defer s.mu.Unlock()
	// Read under s.mu: the round's end clears busy before it takes s.mu
	// for the held jobs (startAfterRound), so a job held here is among
	// them.
	parking := s.parking.Load()
	held := !parking && !q.stopping(ctx) && q.stallBusy()
	if !parking && !held {
		s.handOverLocked()
		if !turn && !q.stopping(ctx) {
			s.handing++ // until its next check
			return waitTurn
		}
		return startJob
	}
	if d := jb.d; d != nil {
		// Not started: pump's start is undone, with no feedback.
		d.busy--
		if d.running[jb.a.m.ID]--; d.running[jb.a.m.ID] <= 0 {
			delete(d.running, jb.a.m.ID)
		}
		if k := slices.Index(d.starts, jb.started); k >= 0 {
			d.starts = slices.Delete(d.starts, k, k+1)
		}
		if jb.gen == d.gen {
			d.unproven--
		}
		jb.started = time.Time{}
	}
	if parking {
		s.parked = append(s.parked, jb)
	} else {
		s.afterRound = append(s.afterRound, jb)
	}
	return parkedJob
}

// unparkAll stops the parking and holds every job parked at its start
// check for the round's end (startAfterRound): a round that panicked
// before its give-back took them (panics.go) leaves none parked for good.
func (q *Manager) unparkAll() {
	s := q.sched
	s.mu.Lock()
	s.parking.Store(false)
	s.afterRound = append(s.afterRound, s.parked...)
	s.parked = nil
	s.mu.Unlock()
}

// startAfterRound starts the jobs a stall's round held (afterRound),
// once it ended: those with a destination back at the head of its
// queue, the others at once, as they were.
func (q *Manager) startAfterRound(ctx context.Context) {
	s := q.sched
	s.mu.Lock()
	held := s.afterRound
	s.afterRound = nil
	var run []*job
	queued := false
	for k := len(held) - 1; k >= 0; k-- { // in their order, at the head
		jb := held[k]
		d := jb.d
		if d == nil {
			run = append([]*job{jb}, run...)
			continue
		}
		if len(d.waiting) == 0 {
			s.ring = append(s.ring, d)
		}
		d.waiting = append([]*job{jb}, d.waiting...)
		queued = true
	}
	lowered := q.noteRequeued(held...)
	s.mu.Unlock()
	if lowered {
		q.Kick() // the loop looks at their notice and expiry (answerWaitingDue)
	}
	if queued && q.stopped.Load() {
		// The loop's last pump (run, at its stop) is past: these go
		// back unattempted now, as it would have sent them.
		stopped, cancel := context.WithCancel(context.Background())
		cancel()
		q.pump(stopped)
	}
	for _, jb := range run {
		q.runJob(ctx, jb) // no window: started again at once, as it was
	}
}

// giveBackUnstarted runs when a stall is noticed, before the round: an
// attempt none of whose jobs started — each waits for its destination's
// window, was handed on to a worker but has not reached its start check,
// or waits for the suspects' turn — is given back as a stop gives back
// a job it kept from starting: the record Ready and due at once, no
// attempt counted (its crash count as stored). The round then finds it
// Ready, not in delivery, and applies what the holders say; the
// scheduler claims it again after. An attempt with a job in its session
// (past its start check) keeps its waiting jobs: they start after the
// round with the recipients the attempt began with, as the job in its
// session goes on (doc.go, "A stall").
func (q *Manager) giveBackUnstarted(ctx context.Context) {
	s := q.sched
	defer s.parking.Store(false)
	// The starts and jobs handed on before the stall reach their check
	// (parked there) first; bounded, for one that is not scheduled.
	bound := q.clk.NewTimer(stallSettle)
	defer bound.Stop()
	for waiting := true; waiting; {
		s.mu.Lock()
		waiting = s.handing > 0
		s.mu.Unlock()
		if !waiting {
			break
		}
		select {
		case <-s.handed:
		case <-bound.C():
			waiting = false
		case <-ctx.Done():
			waiting = false
		}
	}
	s.mu.Lock()
	s.parking.Store(false)
	parked := s.parked
	s.parked = nil
	jobs := map[*attempt][]*job{}
	var order []*attempt
	add := func(jb *job) {
		if jobs[jb.a] == nil {
			order = append(order, jb.a)
		}
		jobs[jb.a] = append(jobs[jb.a], jb)
	}
	for _, d := range s.dests {
		if !d.task {
			for _, jb := range d.waiting {
				add(jb)
			}
		}
	}
	for _, jb := range parked {
		add(jb)
	}
	isParked := map[*job]bool{}
	for _, jb := range parked {
		isParked[jb] = true
	}
	gone := map[*job]bool{}
	var given []*attempt
	var again []*job // parked jobs of attempts in their session: they go on
	for _, a := range order {
		js := jobs[a]
		if a.waitsWhole(len(js)) && !q.stopping(ctx) {
			a.mu.Lock()
			a.left = 0
			a.mu.Unlock()
			for _, jb := range js {
				gone[jb] = true
			}
			given = append(given, a)
			continue
		}
		for _, jb := range js {
			if isParked[jb] {
				again = append(again, jb)
			}
		}
	}
	s.dropJobs(gone)
	queued := false
	for _, jb := range again {
		if d := jb.d; d != nil {
			if len(d.waiting) == 0 {
				s.ring = append(s.ring, d)
			}
			d.waiting = append([]*job{jb}, d.waiting...)
			queued = true
			continue
		}
		// No window: started again after the round (startAfterRound),
		// not before it — nothing starts before the holders were asked.
		s.afterRound = append(s.afterRound, jb)
	}
	lowered := q.noteRequeued(again...)
	s.mu.Unlock()
	if lowered {
		q.Kick() // the loop looks at their notice and expiry (answerWaitingDue)
	}
	if queued && q.stopped.Load() {
		// The loop's last pump (run, at its stop) is past: these go
		// back unattempted now, as it would have sent them.
		stopped, cancel := context.WithCancel(context.Background())
		cancel()
		q.pump(stopped)
	}
	if len(given) == 0 {
		return
	}
	now := q.clk.Now()
	ready := map[ID]bool{}
	var took []*Message
	err := q.store.Update(context.Background(), func(tx *Tx) error {
		clear(ready)
		took = took[:0]
		for _, a := range given {
			m, err := tx.Get(a.m.ID)
			if errors.Is(err, ErrNotFound) {
				continue
			} else if err != nil {
				return err
			}
			if m.State != Active {
				continue
			}
			m.State, m.NextAttempt = Ready, now
			t, err := putLeavingTook(tx, m)
			if err != nil {
				return err
			}
			if t {
				took = append(took, m)
			}
			ready[m.ID] = true
		}
		return nil
	})
	if err != nil {
		clear(ready)
		if !errors.Is(err, ErrClosed) {
			q.log.Error("giving back the mail that waited to start after a stall failed; it starts after the round as it was", "err", err)
		}
	}
	for _, m := range took {
		q.trackTakeover(m)
	}
	for _, a := range given {
		w := &withdrawal{a: a}
		if ready[a.m.ID] {
			w.end(q)
			continue
		}
		// As it was: its jobs back at the head of their queues (pump
		// holds while the round runs), those without a destination
		// started again after the round (startAfterRound).
		var nodest []*job
		for _, jb := range jobs[a] {
			if jb.d != nil {
				w.jobs = append(w.jobs, jb)
			} else {
				nodest = append(nodest, jb)
			}
		}
		w.putBack(q, PanicStall)
		a.mu.Lock()
		a.left += len(nodest)
		a.mu.Unlock()
		s.mu.Lock()
		s.afterRound = append(s.afterRound, nodest...)
		s.mu.Unlock()
	}
	q.Kick()
}

// stallBusy reports whether a stall's round runs (claimDue and pump
// hold), without reading the clock: the scheduler's loop then waits for
// the round's kick instead of coming round at once for the mail that
// stays due meanwhile.
func (q *Manager) stallBusy() bool {
	g := q.stall
	if g == nil {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.busy
}
