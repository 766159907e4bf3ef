package queue

import (
	"context"
	"sync"
	"time"

	"umbra/internal/clock"
)

// stallTick is how often the stall guard reads the clock: a reading
// later than this by more than the guard's delay means the process did
// not run in between (SIGSTOP, a long stall), since the monotonic clock
// runs on while a process is stopped.
const stallTick = time.Second

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
	last time.Duration // monotonic reading of the last check
	busy bool          // a round runs: no attempt starts
}

// GuardStall makes the scheduler notice that the process did not run for
// longer than after() and then run round before any new attempt starts
// (claimDue and pump hold until it returns; attempts running are not
// touched). round bounds its own time. Call it before Start.
func (q *Manager) GuardStall(after func() time.Duration, round func(ctx context.Context)) {
	q.stall = &stallGuard{after: after, round: round, last: q.mono()}
}

// mono is the clock's monotonic reading (the wall clock's where the
// clock has none).
func (q *Manager) mono() time.Duration {
	if m, ok := q.clk.(clock.Monotonic); ok {
		return m.Monotonic()
	}
	return time.Duration(q.clk.Now().UnixNano())
}

// runStallGuard reads the clock every stallTick until ctx ends, so that
// a stall is noticed as the process runs on even when nothing is due.
func (q *Manager) runStallGuard(ctx context.Context) {
	for {
		t := q.clk.NewTimer(stallTick)
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
	g := q.stall
	if g == nil || q.stopping(ctx) {
		return false
	}
	now := q.mono()
	g.mu.Lock()
	defer g.mu.Unlock()
	gap := now - g.last
	g.last = now
	if !g.busy && gap > max(g.after(), 2*stallTick) {
		g.busy = true
		q.log.Warn("this server did not run for longer than a shadow server waits before it takes copies over; new delivery attempts wait until the shadow servers are asked what they finished",
			"stalled", gap.Round(time.Second))
		q.wg.Add(1)
		go func() {
			defer q.wg.Done()
			g.round(ctx)
			g.mu.Lock()
			g.busy = false
			g.last = q.mono() // the round's own time is no stall
			g.mu.Unlock()
			q.Kick()
		}()
	}
	return g.busy
}
