package queue

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"umbra/internal/clock"
)

// Suspects. A message that counted a crash (CrashCount > 0) is a
// suspect: every message running umbra's code at a crash counts it, so
// after a crash loop that kills the server just after its start — when
// every recovered message begins at once — dozens of bystanders count
// crashes that were not theirs, and a second kill would park them all.
//
// So suspects take the one suspects' turn, an attempt at a time: a
// suspect's job starts (loads the body, plans, connects) only with its
// attempt holding the turn, and the attempt keeps it — through its
// waits on the peer and the sections of umbra's code between them (a
// body written at full speed: dot-stuffing, writes the socket takes at
// once), every job of it, and its end until its results are handed to
// the store — until nothing of the attempt runs (its slot is free,
// markPhase): the attempt ended, or its remaining jobs wait behind
// their destination's window (running nothing, they count no crash,
// and take the turn again to start). A job starts only while its
// attempt still holds the turn, looked at under a.mu where markPhase
// gives it back (withJobInTurn): the attempt's start leaves its own
// section while its first job goes from the acquire to its start, and
// the turn given back in that instant had let the job run beside
// another suspect (the 1-in-300 flake of
// TestSuspectHoldsTurnPastItsFirstWait, made certain by
// TestSuspectTurnGivenBackBeforeItsJobStartsIsTakenAgain; hungnotice25).
// At a crash at most one suspect
// runs, so a bystander suspect counts again only if its own attempt
// was the one running, while a poisonous message still crashes the
// server with the turn in hand and counts. Waiting for the turn runs
// nothing on the message (no slot), and lends the message's slot of the
// active set (turnwait.go: the wait is on another suspect, not a peer).
//
// The turn is bounded (ManagerConfig.SuspectTurn, default
// DefaultSuspectTurn): a suspect waiting for it takes it over once the
// holder has had it that long, so a suspect hung on its next hop (or in
// its own code) delays the others by at most the bound, and non-suspect
// mail is never gated at all. What the bound gives up: a kill after it,
// while the overtaken suspect still runs umbra's code, counts against
// both — an attempt of a suspect that lasts longer than the bound
// (TestSuspectHoldsTurnPastItsFirstWait, …HandsTheTurnOnAtItsBound).
// The start of an attempt (attemptable, plan: no I/O) runs before its
// first job asks for the turn.

// DefaultSuspectTurn bounds how long one suspect's attempt keeps the
// suspects' turn from another suspect.
const DefaultSuspectTurn = 10 * time.Second

// suspectGate is the suspects' turn: held by one attempt at a time.
type suspectGate struct {
	mu      sync.Mutex
	holder  *attempt
	since   time.Time     // when holder took it (the manager's clock)
	changed chan struct{} // closed when the turn is given back

	// looking, when set (tests only), runs in acquire before each look
	// under mu: a stall noticed there must not be missed.
	looking atomic.Pointer[func(*attempt)]
	// acquired, when set (tests only), runs in runJob after acquire
	// gave a job's attempt the turn, before the job starts.
	acquired atomic.Pointer[func(*attempt)]
}

// acquire waits until a holds the turn: free, a's already, or held by
// another attempt for bound; false when ctx ended first (the job goes
// on without it: it ends at once), or when parked says so (a stall's
// give-back parks the job at its check: stallguard.go; wake ends the
// waits for it to look). lend, when not nil, is called once the job
// must wait for the turn — not when it takes it at once — and what it
// returns when the wait ends (the message's slot of the active set is
// lent for the wait alone: turnwait.go).
func (g *suspectGate) acquire(ctx context.Context, a *attempt, clk clock.Clock, bound time.Duration, parked func() bool, lend func() (done func())) bool {
	lent := func() {}
	defer func() { lent() }()
	for {
		if f := g.looking.Load(); f != nil {
			(*f)(a)
		}
		g.mu.Lock()
		// Looked at under mu: a stall's guard sets parking before wake
		// takes mu, so either this look sees it or wake finds the
		// channel this wait is on and closes it. A look before the lock
		// could miss both, and the job would wait for the turn while
		// the give-back waits for it (reread22b F2).
		if parked() {
			g.mu.Unlock()
			return false
		}
		now := clk.Now()
		if g.holder == nil || g.holder == a || now.Sub(g.since) >= bound {
			if g.holder != a {
				g.holder, g.since = a, now
			}
			g.mu.Unlock()
			return true
		}
		if g.changed == nil {
			g.changed = make(chan struct{})
		}
		ch, since, left := g.changed, g.since, bound-now.Sub(g.since)
		g.mu.Unlock()
		if lend != nil {
			lent, lend = lend(), nil // the wait begins: once per acquire
		}
		t := clk.NewTimer(left)
		// The timer runs from when it was armed, not from the reading
		// above: a clock that moved in between (a goroutine descheduled
		// there; a test's fake clock advanced by a whole bound) would
		// have it fire a bound late, or, on a fake clock, never. The
		// turn's bound is by the clock: looked at again once armed.
		if clk.Now().Sub(since) >= bound {
			t.Stop()
			continue
		}
		select {
		case <-ch:
		case <-t.C():
		case <-ctx.Done():
			t.Stop()
			return false
		}
		t.Stop()
	}
}

// holds reports whether a holds the turn. Called with a.mu held, as
// release is, so that no release comes between it and what its caller
// does under a.mu (withJobInTurn).
func (g *suspectGate) holds(a *attempt) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.holder == a
}

// release gives the turn back if a holds it. Never blocks; called from
// markPhase with a.mu held (the gate's lock is taken inside a.mu, never
// the other way round).
func (g *suspectGate) release(a *attempt) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.holder != a {
		return
	}
	g.holder = nil
	if g.changed != nil {
		close(g.changed)
		g.changed = nil
	}
}

// wake makes every suspect waiting for the turn look again (acquire):
// a stall's give-back parks them (stallguard.go).
func (g *suspectGate) wake() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.changed != nil {
		close(g.changed)
		g.changed = nil
	}
}
