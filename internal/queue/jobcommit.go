package queue

import (
	"context"
	"fmt"
	"slices"
)

// Jobs' own commits (rt20f F1; doc.go, "Durability and the crash
// argument", point 4).
//
// An attempt runs one job per destination, and its results used to be
// committed only when its last job ended: a recipient handed on by one
// job while another hung in its session (up to command_timeout or
// data_timeout) stayed pending on disk, with no partial discard for the
// copy elsewhere, for as long as that took. A kill -9 then left it
// pending here and in the shadow server's copy: the shadow server took
// the copy over and handed it on again, and the restarted server
// repeated it too.
//
// Now a job that ends while others of its attempt run has its results
// committed at once (riding along with the next commit when nobody waits,
// as the attempt's: deferResults): the recipients it relayed, handed on
// in a shadow session (reread22a F1: shadowed for their primary, the
// primary noted as shadowTransitions does) or delivered into a mailbox
// are done in the record — which stays Active,
// in delivery — and, in the same commit, their final deliveries' claims
// and dumpster copies, their notes for a copy that comes back
// (noteFinished, noteTakenDone) and the partial discard owed to the
// copy's holder (and to the holder of a copy made again), which a
// waiting shadow server's long poll is told of at once. Its events are
// written then. The attempt's end commits everything else exactly as
// before — DSNs, the retry time, the attempt counted once, the delay
// DSN (unless a job still ran noticeGrace after it fell due:
// noticecommit.go), the windows, the full discard, its waiters — over all the
// results, and leaves out only what a job's commit wrote already.
//
// The groups of one job (the recipients only the directory routes,
// which its Deliver splits by next hop) are reported one by one as
// their sessions end (ReportGroup, groupreport.go) and committed here
// the same way, each with its own results, not the job's as a whole.
//
// A job's final results that make a DSN are committed the same way
// (sched32): a failure (its failure DSN) and a recipient delivered or
// relayed whose sender asked for a success DSN — the DSN built before
// the commit, inside a section of umbra's code on the message (for a
// suspect only while the attempt holds the suspects' turn), and put in
// the same transaction as its recipients' final status, marked held by
// this server only (other recipients are still pending: no discard
// carries it); the recipients the failure DSN reports are left out of
// the partial discard and noted for its departure (reportedcopy.go), as
// an attempt's end that leaves others pending does. So a failure DSN is
// not late by as long as a hung job of its attempt runs. The end
// leaves these recipients out of its DSNs and events.
//
// Not committed early, so that a crash between cannot lose what only
// the attempt's end makes: a failure while a sender waits for the
// refusal of every recipient (SR-9: the end decides between the
// refusal and a DSN), a failure of one of umbra's own DSNs (its refit:
// dsnrefit.go), a result whose DSN cannot be built then (the body not
// loaded, a suspect without the turn), a hand-off in a shadow session
// whose sender asked for a success DSN (the end may take it over), a
// duplicate found in a mailbox, a group's expansion, a recipient given
// back to its primary (its shadow transition is the end's), one handed
// on in a shadow session to a primary whose stored database differs
// from the one the copy was made with (the end takes it over), and
// anything of a record that is no longer Active here.

// jobCommittable reports whether r, a result of a job of m's attempt,
// is committed when its job ends (see above). dsnOK: the DSN r makes
// (a failure's, a success's) can be made with the job's commit (its
// body loaded, umbra's code allowed to run on the message now); refusal:
// a sender waits for the refusal of every recipient (SR-9), which only
// the attempt's end decides, so no failure is committed before it.
func jobCommittable(m *Message, r Result, dsnOK, refusal bool) bool {
	if r.Rcpt < 0 || r.Rcpt >= len(m.Rcpts) || m.Rcpts[r.Rcpt].Status != Pending {
		return false
	}
	rc := &m.Rcpts[r.Rcpt]
	wantsSuccess := m.From != "" && rc.Notify.Wants(NotifySuccess)
	switch {
	case r.Outcome == DeliveredOK && !r.Duplicate:
		return !wantsSuccess || dsnOK
	case r.Outcome == RelayedOK:
		return r.DSNPassed || !wantsSuccess || dsnOK
	case r.Outcome == ShadowedOK:
		// Its success DSN waits for the end, which may take the
		// hand-off over (a primary of another database).
		return r.DSNPassed || !wantsSuccess
	case r.Outcome == FailedPerm:
		return !refusal && !m.OwnDSN() && (dsnOK || m.From == "" || !rc.Notify.Wants(NotifyFailure))
	}
	return false
}

// jobDSNs is the DSNs a job's commit makes for its results these: the
// failure DSN of the failed recipients and the success DSN of the
// delivered or relayed ones whose sender asked for them (as finish
// makes them), with the recipients the failure DSN reports.
func jobDSNs(m *Message, these []Result) (failed, succeeded []int, inDSN map[int]bool) {
	if m.From == "" {
		return nil, nil, nil
	}
	for _, r := range these {
		rc := &m.Rcpts[r.Rcpt]
		switch r.Outcome {
		case FailedPerm:
			if rc.Notify.Wants(NotifyFailure) {
				failed = append(failed, r.Rcpt)
				if inDSN == nil {
					inDSN = map[int]bool{}
				}
				inDSN[r.Rcpt] = true
			}
		case DeliveredOK, RelayedOK, ShadowedOK:
			if !r.DSNPassed && rc.Notify.Wants(NotifySuccess) {
				succeeded = append(succeeded, r.Rcpt)
			}
		}
	}
	slices.Sort(failed)
	slices.Sort(succeeded)
	return failed, succeeded, inDSN
}

// jobStatus is the status a committable result gives its recipient.
func jobStatus(r Result) RcptStatus {
	switch r.Outcome {
	case DeliveredOK:
		return Delivered
	case ShadowedOK:
		return Shadowed
	case FailedPerm:
		return Failed
	}
	return Relayed
}

// applyJob writes into rc what a job's own commit made of it: done, and
// a hand-off in a shadow session held for its primary (as finish).
func applyJob(rc *Recipient, r Result) {
	rc.Status, rc.Queue, rc.NextHop, rc.LastReply = jobStatus(r), r.Queue, r.NextHop, r.Reply
	if r.Outcome == ShadowedOK {
		rc.Primary, rc.PrimaryAddr, rc.ShadowID, rc.PrimaryVia = r.Primary, r.PrimaryAddr, r.ShadowID, r.PrimaryVia
	}
}

// commitJob commits the committable results res of a job of a that
// ended while another job of a still runs. It runs on the job's
// goroutine after the job ended (outside every section of umbra's code
// on the message: a crash while it waits for its commit counts none).
// a.cmu orders it before the attempt's end (complete), which then
// leaves out what it wrote (a.early).
func (q *Manager) commitJob(ctx context.Context, a *attempt, res []Result) {
	q.commitJobWaiting(ctx, nil, a, res)
}

// commitJobWaiting is commitJob for a part of a job still running (a
// group's report): its waits — for another part's commit under way
// (a.cmu), and for its own from the hand-off to the store to its
// return — are waits of wctx's job or strand (AwaitingPeer); nil for
// none.
func (q *Manager) commitJobWaiting(ctx, wctx context.Context, a *attempt, res []Result) {
	if !a.cmu.TryLock() {
		// Another part's commit (another group's, a delay notice's) is
		// under way, its results perhaps set aside for up to
		// result_commit_delay: waiting for it is a wait of this part
		// too, not umbra's code (as the end's wait for the lock is:
		// endJobs).
		waited := func() {}
		if wctx != nil {
			waited = AwaitingPeer(wctx)
		}
		a.cmu.Lock()
		waited()
	}
	defer a.cmu.Unlock()
	if a.ending {
		return // the attempt's end commits these results with the rest
	}
	m := a.m
	a.mu.Lock()
	body, loaded := a.body, a.loaded
	a.mu.Unlock()
	refusal := q.refusalWaits(m.ID)
	pick := func(dsnOK bool) []Result {
		var fresh []Result
		for _, r := range res {
			if _, done := a.early[r.Rcpt]; !done && jobCommittable(m, r, dsnOK, refusal) && !slices.ContainsFunc(fresh, func(f Result) bool { return f.Rcpt == r.Rcpt }) {
				fresh = append(fresh, r)
			}
		}
		return fresh
	}
	fresh := pick(loaded)
	if len(fresh) == 0 {
		return
	}
	now := q.clk.Now()
	pol := q.policy()
	// The DSNs of its results (a failure's, a success's), made before
	// the commit: building one reads the message's headers, umbra's
	// code on it (a crash here counts, peerwait.go), as at the attempt's
	// end — for a suspect only while the attempt holds the suspects'
	// turn (suspectgate.go); otherwise those results are the end's.
	var dsns []*Message
	var dsnKinds []Notify
	var dsnBodies [][]byte
	failDSN := -1
	failedNow, succeededNow, inDSN := jobDSNs(m, fresh)
	if len(failedNow)+len(succeededNow) > 0 {
		a.mu.Lock()
		enter := m.CrashCount == 0 || q.suspects.holds(a)
		if enter {
			a.own++
			q.markPhase(a)
		}
		a.mu.Unlock()
		if !enter {
			if fresh = pick(false); len(fresh) == 0 {
				return
			}
			failedNow, succeededNow, inDSN = nil, nil, nil
		} else {
			// The message as the DSNs report it: the jobs' commits so far
			// and these applied (a relayed recipient's "relayed").
			rm := *m
			rm.Rcpts = slices.Clone(m.Rcpts)
			for _, r := range a.early {
				applyJob(&rm.Rcpts[r.Rcpt], r)
			}
			for _, r := range fresh {
				applyJob(&rm.Rcpts[r.Rcpt], r)
			}
			func() {
				defer q.leaveOwn(a) // a panic of the build leaves the section too
				for _, d := range []struct {
					kind  Notify
					rcpts []int
				}{{NotifyFailure, failedNow}, {NotifySuccess, succeededNow}} {
					if len(d.rcpts) == 0 {
						continue
					}
					if rm.Redelivered() { // no DSN of a dumpster redelivery copy (finish)
						q.logNoRedeliveryDSN(&rm, d.kind, len(d.rcpts))
						continue
					}
					dm, db := q.newDSN(&rm, body, d.kind, d.rcpts, now, pol)
					if d.kind == NotifyFailure {
						failDSN = len(dsns)
					}
					dsns, dsnKinds, dsnBodies = append(dsns, dm), append(dsnKinds, d.kind), append(dsnBodies, db)
				}
			}()
		}
	}
	var pm Message
	var these []Result // fresh, less the hand-offs left to the attempt's end
	var afters []func()
	var partial []string
	wrote := false
	commit := func(tx *Tx) error {
		afters, partial, wrote, these = afters[:0], nil, false, these[:0]
		// Only a record still in delivery here: anything else is the
		// attempt's end's to settle, with every result.
		if old, err := tx.Get(m.ID); err != nil || old.State != Active {
			return nil
		}
		// A hand-off in a shadow session: its primary noted (notePeer,
		// through the one database check), as the attempt's end does
		// (shadowTransitions). A primary whose stored database is not
		// the one the copy was made with (replaced while the attempt
		// ran) leaves its recipients to the end, which takes them over.
		var checked map[string]string
		var refused []refusedNextHop
		for _, r := range fresh {
			if r.Outcome == ShadowedOK {
				other, err := q.notePrimaryTx(tx, r, true, &checked, &refused, now)
				if err != nil {
					return err
				}
				if other != "" {
					continue
				}
			}
			these = append(these, r)
		}
		if len(these) == 0 {
			return nil
		}
		if after := q.refusedWarning(m, refused); after != nil {
			afters = append(afters, after)
		}
		// The record as this commit leaves it: the attempt's message
		// (which other jobs read, and the attempt's end changes: never
		// written here) with the recipients committed so far done.
		pm = *m
		pm.Rcpts = slices.Clone(m.Rcpts)
		pm.State = Active
		pm.DelayNotified = m.DelayNotified || a.noticed.Load() // a notice committed before (noticecommit.go) stays made
		if old, err := tx.Get(m.ID); err == nil && old.MayRepeat {
			pm.MayRepeat = true // a marked copy merged into it meanwhile (carried.go: markMayRepeat)
		}
		for _, r := range a.early {
			applyJob(&pm.Rcpts[r.Rcpt], r)
		}
		prev := make([]RcptStatus, len(pm.Rcpts)) // as the commits before this one left them
		for i := range pm.Rcpts {
			prev[i] = pm.Rcpts[i].Status
		}
		outcome := map[int]Outcome{}
		var dbs []string
		perDB := map[string][]int{}
		for _, r := range these {
			applyJob(&pm.Rcpts[r.Rcpt], r)
			outcome[r.Rcpt] = r.Outcome
			if r.Outcome == DeliveredOK {
				if perDB[r.Database] == nil {
					dbs = append(dbs, r.Database)
				}
				perDB[r.Database] = append(perDB[r.Database], r.Rcpt)
			}
		}
		for _, db := range dbs {
			for _, i := range perDB[db] {
				if err := tx.RecordDelivered(db, pm.OrgID, pm.Rcpts[i].Addr, now); err != nil {
					return err
				}
			}
			if q.cfg.Dumpster != nil {
				var after func()
				err := q.keepOwn(a, func() (err error) {
					after, err = q.cfg.Dumpster.Keep(tx, &pm, body, db, perDB[db], now)
					return err
				})
				if err != nil {
					return fmt.Errorf("dumpster: %w", err)
				}
				if after != nil {
					afters = append(afters, after)
				}
			}
		}
		var failedHere []int // a redelivery copy's: kept in the dumpster again (keepback.go)
		for _, r := range these {
			if r.Outcome == FailedPerm {
				failedHere = append(failedHere, r.Rcpt)
			}
		}
		var back []func()
		if err := q.keepOwn(keptBack(&pm, failedHere, a), func() (err error) {
			back, err = q.keepBack(tx, &pm, body, failedHere, now)
			return err
		}); err != nil {
			return err
		}
		afters = append(afters, back...)
		if err := tx.noteHanded(&pm, prev, now); err != nil { // takenhanded.go; before the write, as noteTakenDone
			return err
		}
		if err := tx.noteTakenDone(&pm, prev, nil, leftOrg(these), now); err != nil { // before the write: it reads the index entries
			return err
		}
		if err := tx.Put(&pm); err != nil {
			return err
		}
		if err := tx.noteFinished(&pm, prev, outcome, leftOrg(these), now); err != nil {
			return err
		}
		// The recipients a failure DSN of this commit reports stay
		// covered by the copy until that DSN has left (reportedcopy.go;
		// doc.go, "DSNs and shadow copies"): no partial discard for them
		// now, a note for the DSN's departure instead.
		if pm.ShadowServer != "" && pm.ShadowID != "" {
			addrs, err := tx.finishedForCopy(&pm, prev, outcome, inDSN)
			if err != nil {
				return err
			}
			if len(addrs) > 0 {
				if err := tx.AddPartialDiscard(pm.ShadowServer, pm.ShadowID, addrs, now); err != nil {
					return err
				}
				partial = addrs
			}
			if err := tx.noteReportedFor(&pm, pm.ShadowServer, pm.ShadowID, prev, outcome, inDSN, dsns, failDSN, false); err != nil {
				return err
			}
		}
		// A copy made again while the attempt runs (heldPrefix), as at
		// the attempt's end (finish).
		if pm.OrgID != "" {
			if h := tx.heldCopy(pm.ID); h != "" && (!sameServer(h, pm.ShadowServer) || pm.ShadowID != pm.OrgID) {
				hm := pm
				hm.ShadowServer, hm.ShadowID = h, pm.OrgID
				addrs, err := tx.finishedForCopy(&hm, prev, outcome, inDSN)
				if err != nil {
					return err
				}
				if len(addrs) > 0 {
					if err := tx.AddPartialDiscard(h, pm.OrgID, addrs, now); err != nil {
						return err
					}
				}
				if err := tx.noteReportedFor(&hm, h, pm.OrgID, prev, outcome, inDSN, dsns, failDSN, false); err != nil {
					return err
				}
			}
		}
		// The DSNs, in the commit that makes their recipients done: on
		// this disk alone until the re-make pass copies them
		// (enteredsingle.go) — other recipients are still pending, so
		// no discard carries them now; the failure DSN comes to carry
		// it if still here when the last recipient finishes
		// (earlydsn.go; doc.go, "DSNs and shadow copies").
		single := pm.ShadowServer != "" && pm.ShadowID != "" || tx.markedSingle(pm.ID)
		for i, dm := range dsns {
			if err := tx.PutNew(dm, dsnBodies[i]); err != nil {
				return err
			}
			if _, err := tx.markEnteredSingle(dm, now, single || tx.makesCopies()); err != nil {
				return err
			}
		}
		wrote = true
		return nil
	}
	waited := func() {}
	if wctx != nil {
		waited = AwaitingPeer(wctx)
	}
	err := q.commitResults(m, false, m.ShadowServer != "" && m.ShadowID != "", ctx.Err() != nil, commit)
	waited()
	if err != nil {
		// The attempt's end commits them with the rest, as before.
		q.log.Warn("committing a delivery job's results failed; they are committed when the attempt ends", "msg_id", m.ID.String(), "err", err)
		return
	}
	if !wrote {
		return
	}
	if a.early == nil {
		a.early = map[int]Result{}
	}
	for _, r := range these {
		a.early[r.Rcpt] = r
	}
	for _, f := range afters {
		f()
	}
	ev := &heldEvents{}
	ev.counted(m.Attempts + 1) // the number of the attempt they belong to, as finish gives its events
	for _, r := range these {
		name := "send"
		switch r.Outcome {
		case DeliveredOK:
			name = "deliver"
		case ShadowedOK:
			name = "shadow"
		case FailedPerm:
			name = "fail"
		}
		ev.Event(name, &pm, &pm.Rcpts[r.Rcpt], r.detail())
	}
	ev.emit(q)
	// The recipients handed on in a shadow session are kept here for
	// their primary from this commit on: its discards are fetched as it
	// commits them (a watch session), as at the attempt's end (finish).
	var shadowed []Recipient
	for _, r := range these {
		if r.Outcome == ShadowedOK {
			shadowed = append(shadowed, pm.Rcpts[r.Rcpt])
		}
	}
	q.markShadowedUrgent(shadowed)
	for i, dm := range dsns {
		q.dsnEvent(dm, dsnKinds[i])
	}
	if len(dsns) > 0 {
		q.Kick() // the DSNs are due now
	}
	if len(partial) > 0 {
		q.ev.Event("discard", &pm, nil, fmt.Sprintf("partial discard notification for %s prepared (%d recipients)", pm.ShadowServer, len(partial))) // the commit woke its long poll (owedsignal.go)
	}
}

// endJobs ends the jobs' own commits of a (the attempt's end begins,
// inside a section of umbra's code on it): none starts from now on, one
// under way is waited for — as a wait, not umbra's code (a.peer: a crash
// while a commit is awaited counts none, doc.go point 3; the slot and a
// suspect's turn are kept). It returns the results they committed, by
// recipient.
func (q *Manager) endJobs(a *attempt) map[int]Result {
	if !a.cmu.TryLock() {
		a.mu.Lock()
		a.own--
		a.peer++
		q.markPhase(a)
		a.mu.Unlock()
		a.cmu.Lock()
		a.mu.Lock()
		a.peer--
		a.own++
		q.markPhase(a)
		a.mu.Unlock()
	}
	defer a.cmu.Unlock()
	a.ending = true
	a.endNotice()
	return a.early
}

// applyEarly writes into m what the jobs' own commits made of it, for an
// end that does not go through finish (a panic's poison record): their
// recipients stay done.
func applyEarly(m *Message, early map[int]Result) {
	for i, r := range early {
		applyJob(&m.Rcpts[i], r)
	}
}
