package queue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"umbra/internal/clock"
)

// Kick makes the scheduler look at the time index now.
func (q *Manager) Kick() {
	select {
	case q.kick <- struct{}{}:
	default:
	}
}

func (q *Manager) reserve() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.active >= q.cfg.MaxActive {
		return false
	}
	q.active++
	return true
}

func (q *Manager) release() {
	q.mu.Lock()
	q.active--
	q.mu.Unlock()
	q.Kick()
}

// reserveUpTo takes up to n free slots of the active set, whose limit
// is limit (claimLimit).
func (q *Manager) reserveUpTo(n, limit int) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	k := min(n, limit-q.active)
	if k < 0 {
		k = 0
	}
	q.active += k
	return k
}

// unreserve gives back slots that were reserved but not used.
func (q *Manager) unreserve(n int) {
	if n == 0 {
		return
	}
	q.mu.Lock()
	q.active -= n
	q.mu.Unlock()
}

func (q *Manager) room() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.cfg.MaxActive - q.active
}

// claimLimit is the active set's limit for claims of due mail at now:
// max_active, or more while jobs of hung next hops hold it — the
// reserve lent (dest.overdue). Every destination is held to its share
// of a crowded set (destHoldLimit) only while the reserve is needed,
// and the only destination with mail that ends its jobs may take the
// whole set (reserveNeeded): a next hop that delivered and then hung
// right after (with max_active 2), or one that hangs while its sessions
// already fill the set, held every slot until the command timeout, and
// other destinations' mail could not even be claimed to be seen
// (TestHungDestinationLendsTheReserveToOthers). Once such jobs are
// overdue (four times their destination's average, a second at least:
// overdueAfter) the set takes as many claims as lets the reserve's
// share (destShare) run beside them — at most max_active plus that
// share, however many hang. A claim in a lent slot for the hung
// destination itself is turned away as busy (its reserve needed now:
// it has an overdue job), so the lent slots go to the others' mail.
// A message with a job waiting for a mailbox's turn or the suspects'
// turn lends its slot too (turnwait.go): one more claim per message —
// its one slot, however many of its jobs wait —, at most max_active
// more.
func (q *Manager) claimLimit(now time.Time) int {
	share := max(q.cfg.MaxActive/destShare, 1)
	s := q.sched
	s.mu.Lock()
	overdue, _ := s.overdue(now)
	lent := s.lentForTurns(q.cfg.MaxActive)
	s.mu.Unlock()
	return min(q.cfg.MaxActive+share, max(q.cfg.MaxActive, overdue+share)) + lent
}

// claimRoom is the room for claims of due mail at now (claimLimit).
func (q *Manager) claimRoom(now time.Time) int {
	limit := q.claimLimit(now)
	q.mu.Lock()
	defer q.mu.Unlock()
	return limit - q.active
}

func (q *Manager) run(ctx context.Context) {
	var lastPrune, lastUnlinkRetry time.Time
	steps := clock.NewStepDetector(q.clk) // clockstep.go
	for {
		q.loopPasses.Add(1)
		if s := steps.Step(); s >= clockStepThreshold || s <= -clockStepThreshold {
			q.followClockStep(s)
			lastPrune = lastPrune.Add(s)
		}
		if now := q.clk.Now(); now.Sub(lastPrune) >= time.Hour {
			lastPrune = now
			q.pruneDiscards(now)
			q.pruneDests(now)
		}
		if now := q.clk.Now(); now.Sub(lastUnlinkRetry) >= time.Minute {
			lastUnlinkRetry = now
			q.store.RetrySpoolUnlinks() // spoolstats.go: removals that failed
			q.warnUnclaimedOwed()       // holdernames.go
		}
		q.stepPickupPrune(&q.pickupEndPrune) // pickupprune.go: a look at the pickup directory found, the next started
		q.stepPickupPrune(&q.pickupKeyPrune) // the same for the pickup submission keys
		q.retryPendingResults(false)         // pendingresults.go: results whose commit failed
		q.retryStranded()                    // stranded.go: attempts whose ending commit failed
		q.retryRecovery(ctx)                 // recoverlater.go: a recovery that found the disk full
		q.claimDue(ctx)
		q.pump(ctx) // jobs an operator's command put back (withdraw.go) start as their windows allow
		var due time.Time
		var ok bool
		_ = q.store.View(func(tx *Tx) error { due, ok = tx.NextDue(); return nil })
		read := q.clk.Now()
		wake := nextWake(due, ok, read, q.claimRoom(read))
		blocked := ok && !due.After(read) && q.claimRoom(read) <= 0
		q.sched.mu.Lock()
		q.sched.dueBlocked = blocked // the next claims keep the reserve (reserveNeeded)
		q.sched.mu.Unlock()
		if blocked {
			// Mail due and no room: jobs waiting behind a full window
			// give their slots back (releaseBusy).
			q.releaseBusy(ctx, read)
		}
		if ok && !due.After(read) {
			// Mail due and no room: the set's limit grows when a running
			// job turns overdue (claimLimit).
			if _, next := q.overdueAt(read); !next.IsZero() {
				wake = min(wake, next.Sub(read))
			}
		}
		if q.claimFailed {
			// Mail that could not be claimed is still due: without a
			// pause the loop would retry the failing claim at once,
			// without end.
			wake = max(wake, claimRetry)
		}
		if q.draining.Load() {
			wake = time.Hour // nothing is claimed: due mail waits for the next start, not a spinning loop
		}
		if q.stallBusy() {
			wake = time.Hour // nothing is claimed while the stall's round runs; its end kicks the loop (stallguard.go)
		}
		wait := min(wake, q.stepClients(ctx))
		if q.store.SpoolUnlinkPending() > 0 {
			wait = min(wait, time.Minute)
		}
		if w := q.strandedWait(q.clk.Now()); w > 0 {
			wait = min(wait, w)
		}
		if w := q.pendingWait(q.clk.Now()); w > 0 {
			wait = min(wait, w)
		}
		if w := q.recoveryWait(q.clk.Now()); w > 0 {
			wait = min(wait, w)
		}
		if w := q.answerWaitingDue(ctx); w > 0 {
			wait = min(wait, w) // a waiting message's delay notice or expiry (waitdue.go)
		}
		t := q.clk.NewTimer(wait)
		if wait > 0 && q.clk.Now().Sub(read) >= wait {
			// The clock passed the wake between the reading and the
			// arming (as the suspects' turn, suspectgate.go): a timer
			// armed for all of wait would fire that much late, on a
			// fake clock not before its next advance.
			t.Stop()
			t = q.clk.NewTimer(0)
		}
		select {
		case <-ctx.Done():
			t.Stop()
			// Results set aside commit now: shutdown waits for none.
			q.store.StopDeferring()
			q.stopped.Store(true) // before the last pump: a withdrawal put back later pumps itself (withdraw.go)
			q.pump(ctx)           // jobs still waiting for a window go back, unattempted
			q.closeTasks()
			return
		case <-q.kick:
		case <-q.store.wake: // a commit of another writer made mail due (Store.Wake)
		case <-t.C():
		}
		t.Stop()
	}
}

// claimRetry is how long the scheduler waits after a claim failed
// before it tries again; claimLogEvery how often it logs the failure
// (with the count of failures since the line before).
const (
	claimRetry    = time.Second
	claimLogEvery = time.Minute
	// claimGrowAfter: claims that commit in a row before a claim shrunk
	// for want of room (claimShrink) takes one halving back.
	claimGrowAfter = 8
)

// nextWake is how long the scheduler sleeps: until the next due time, at
// once if that passed since claimDue looked, and until a kick (an hour at
// most) when nothing is scheduled or the active set is full, since a
// release or a Submit kicks it.
func nextWake(due time.Time, ok bool, now time.Time, room int) time.Duration {
	switch {
	case !ok || room <= 0:
		return time.Hour
	case due.Before(now):
		return 0
	}
	return due.Sub(now)
}

// claimDue moves due messages into the active set, as many as it has
// room for, in one transaction, and dispatches them. Slots are reserved
// before the claim, so a concurrent Submit cannot overfill the set.
// It claims one batch per pass of the run loop, never more: mail that
// is still due makes the loop come round at once (nextWake), and each
// pass steps the clients whose time came first — so a steady stream of
// due mail (retries toward a dead primary, every few seconds) can never
// hold the heartbeats, and with them the takeover, back.
func (q *Manager) claimDue(ctx context.Context) {
	if q.stallHeld(ctx) {
		return // after a stall, nothing is claimed until the holders were asked (stallguard.go)
	}
	if !q.stopping(ctx) {
		now := q.clk.Now()
		// Reserve only what is due, so that a Submit meanwhile still
		// finds room and goes straight to delivery.
		due := 0
		limit := q.claimLimit(now)
		if len(q.claimNoRoom) > 0 && now.Sub(q.claimNoRoomSince) >= claimLogEvery {
			q.claimNoRoom = nil // tried again now and then: the deliveries since freed pages
		}
		_ = q.store.View(func(tx *Tx) error { due = q.claimable(tx.Due(now, q.claimRoom(now)+len(q.claimNoRoom))); return nil })
		if due == 0 && len(q.claimNoRoom) > 0 {
			// Only messages whose own claim found no room are due:
			// they are tried again (claimFailed paces it).
			q.claimNoRoom = nil
			_ = q.store.View(func(tx *Tx) error { due = len(tx.Due(now, q.claimRoom(now))); return nil })
		}
		if due == 0 {
			// Nothing due: no claim fails, whatever failed before (the
			// mail removed or suspended since); the listings stop
			// saying it (claimtrouble.go).
			q.claimTrouble.Store(nil)
		}
		if q.claimShrink > 0 && due > 1 {
			due = max(1, due>>q.claimShrink) // what fits on a full disk (claimShrink)
		}
		slots := q.reserveUpTo(due, limit)
		if slots == 0 {
			return
		}
		var claimed []*Message
		var setAside []DamagedRecord
		// Each message is marked settling before the commit that makes
		// it Active (settling.go): a message command that finds it Active
		// right after that commit finds the mark too, and waits for the
		// attempt's first job or its answers' commit instead of taking it
		// for one in delivery (a mark begun after the commit left a
		// moment where it did). Marks of messages the commit did not
		// claim end after it.
		marks := map[ID]func(){}
		var busyEnded []busyEnd
		var tried []ID
		// A claim of one message that finds no room may give up the
		// space reserve (spacereserve.go): its delivery is what frees
		// room, and a file with no free page (after db compact or db
		// restore) has no room for even one claim, so without the
		// reserve nothing would ever be delivered while the disk stays
		// full. A larger claim is halved first (claimShrink) and reaches
		// one: the reserve is spent only when the free pages inside the
		// file do not hold even that (rt45 F1).
		update := q.store.Update
		if slots == 1 {
			update = func(ctx context.Context, fn func(*Tx) error) error {
				return q.store.UpdateFreeing(ctx, "the claim of a due message (its delivery frees room)", fn)
			}
		}
		err := update(context.Background(), func(tx *Tx) error {
			claimed, setAside, busyEnded, tried = claimed[:0], setAside[:0], busyEnded[:0], tried[:0]
			for _, id := range tx.Due(now, slots+len(q.claimNoRoom)) {
				if _, skip := q.claimNoRoom[id]; skip {
					continue // its own claim found no room (claimNoRoom)
				}
				if len(tried) == slots {
					break
				}
				tried = append(tried, id)
				m, err := tx.Get(id)
				switch {
				case errors.Is(err, errCorrupt):
					// Damaged since Open read it: set aside, so that
					// the rest of the batch is claimed (damaged.go).
					d, err := tx.setAsideOne(id, now)
					if err != nil {
						return fmt.Errorf("claim %s: setting its damaged record aside: %w", id, err)
					}
					setAside = append(setAside, d)
					continue
				case errors.Is(err, ErrNotFound):
					// An entry naming no record: nothing to claim.
					if err := tx.dropStaleSchedule(id); err != nil {
						return fmt.Errorf("claim %s: %w", id, err)
					}
					continue
				case err != nil:
					return fmt.Errorf("claim %s: %w", id, err)
				}
				// An original whose copy is in delivery on the shadow
				// server that took it over waits for that server's
				// answer, whatever made it due (takenbusy.go).
				if until, holders, ok := tx.takenBusyUntil(id); ok {
					if until.After(now) {
						m.NextAttempt = until
						if err := tx.Put(m); err != nil {
							return err
						}
						continue
					}
					if err := tx.dropTakenBusy(id); err != nil {
						return err
					}
					busyEnded = append(busyEnded, busyEnd{id, strings.Join(holders, ", ")})
				}
				// A copy a restored database took over waits for every
				// transport server's answer about the copies its
				// predecessor handed on, whatever took it over
				// (restoredhanded.go).
				if until, ok := q.restoredTakeoverHeld(tx, m); ok {
					m.NextAttempt = until
					if err := tx.Put(m); err != nil {
						return err
					}
					continue
				}
				if marks[id] == nil {
					marks[id] = q.settling.begin(id)
				}
				m.State = Active
				if err := tx.Put(m); err != nil {
					return err
				}
				m.GiveBack, m.TakenUnder, m.CopyUnder = tx.giveBackOf(m) // fixed while m is in delivery (givebackrelay.go)
				m.Prior, m.Scan = tx.priorOf(m)
				claimed = append(claimed, m)
			}
			return nil
		})
		if err != nil {
			claimed, setAside = nil, nil
			// The loop waits before the next claim (claimFailed), and
			// the line is logged at most once per claimLogEvery.
			q.claimFailures++
			if now := q.clk.Now(); now.Sub(q.claimLogged) >= claimLogEvery {
				q.log.Error("claiming due messages failed; retried every second", "err", err,
					"failures_since_last_logged", q.claimFailures)
				q.claimLogged, q.claimFailures = now, 0
			}
			q.claimFailed = true
			q.noteClaimTrouble(err)
			if isNoSpace(err) && q.claimShrink < 16 {
				q.claimShrink++
			}
			if isNoSpace(err) {
				q.claimGrown = 0
			}
			if isNoSpace(err) && len(tried) == 1 {
				// A claim of one that does not fit: the messages due
				// after it are claimed without it until nothing else is
				// due or a while passed (claimNoRoom), not held behind it.
				if q.claimNoRoom == nil {
					q.claimNoRoom, q.claimNoRoomSince = map[ID]struct{}{}, now
				}
				q.claimNoRoom[tried[0]] = struct{}{}
			}
		} else {
			q.claimFailed = false
			q.claimTrouble.Store(nil)
			if q.claimShrink > 0 {
				// One halving back per claimGrowAfter claims that
				// committed in a row: one per claim doubled the next
				// claim past the room that settled it, and every other
				// claim failed (and waited claimRetry).
				if q.claimGrown++; q.claimGrown >= claimGrowAfter {
					q.claimShrink--
					q.claimGrown = 0
				}
			}
		}
		if err == nil {
			for _, b := range busyEnded {
				q.log.Warn("original no longer kept back: the shadow server that had its taken-over copy in delivery did not answer again in time; delivered here (a duplicate at worst, if that attempt went through)",
					"msg_id", b.id.String(), "shadow_server", b.holder)
			}
		}
		for _, d := range setAside {
			q.log.Error(d.LogText(),
				"msg_id", d.ID.String(), "err", d.Why, "bytes", len(d.Raw))
		}
		q.unreserve(slots - len(claimed))
		for _, m := range claimed {
			delete(marks, m.ID) // settling from its claim until a job runs or its answers commit (start finds the mark)
		}
		for _, end := range marks {
			end() // not claimed by the commit (a failed commit, a run of fn that was not the last)
		}
		for _, m := range claimed {
			q.dispatch(ctx, m, Body{})
		}
	}
}

// claimable is how many of due a claim may take: those not set aside
// for want of room (claimNoRoom).
func (q *Manager) claimable(due []ID) int {
	n := 0
	for _, id := range due {
		if _, skip := q.claimNoRoom[id]; !skip {
			n++
		}
	}
	return n
}

// dispatch hands a claimed message to the scheduler (scheduler.go).
// body may be nil: it is then read from the store when its first job
// starts.
func (q *Manager) dispatch(ctx context.Context, m *Message, body Body) {
	q.start(ctx, m, body)
}
