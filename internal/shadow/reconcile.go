package shadow

import (
	"context"
	"errors"
	"time"
)

// Reconciliation (SR-15): a discard notification that goes missing
// leaves its copy here until it expires and is taken over — a second
// delivery of a message its primary delivered long ago. So, every
// reconcileEvery, the manager asks each primary it holds old copies for
// (older than an hour: queue.HeldQueryAge) which of them it is done with
// (XQUERYHELD, shadow verbs version 4), at most heldBatch per session,
// resuming where the last session stopped, and drops those — applied as
// discard notifications, after the session's XSHADOW database id was
// compared (a new one takes the copies over instead, SR-7). The primary
// answers "done" for an id it holds no unfinished record for (package
// queue, heldquery.go, states the rule and why a primary with the same
// database id cannot have lost such a message). A primary of an older
// release is not asked; one failing heartbeats or taken over is not
// asked either (its copies are the heartbeats' to judge).

// Reconciler asks a primary which of the copies ids (shadow message ids)
// it is done with and hands them to save as discards (contact false),
// after save was given the database id of the session's XSHADOW reply.
// A primary that does not speak version 4 is asked nothing.
type Reconciler interface {
	Reconcile(ctx context.Context, primary, addr string, ids []string, save Save) error
}

// HeldDoneStore is a Store that applies a primary's answer to XQUERYHELD
// to the copies still held only (queue ShadowHeldDone): a copy taken
// over since the question was listed — by the session's own XSHADOW
// reply (a new database, a rollback mark) or by another session — is
// left as it is. Without it the answer goes to Presented.
type HeldDoneStore interface {
	HeldDone(primary, dbID string, done []string) (ContactResult, error)
}

// HeldLister lists the copies to ask a primary about: shadow ids of old
// copies held for it, in message order after the message after, at most
// max; next is where the next list starts (0: at the beginning).
type HeldLister interface {
	HeldCopies(primary string, after uint64, max int) (ids []string, next uint64, err error)
}

// RestoredLister is a HeldLister that knows of copies a restore of
// this server's database brought back (package queue, heldquery.go):
// their discards may have been applied after the backup, so they are
// listed whatever their age, and while RestoredWaiting says such a copy
// of primary is still young the manager asks batch after batch, not one
// batch per reconcileEvery, and asks again every heartbeat interval
// while one is held (restoredDue: the primary that answered "still
// mine" may be done with it a moment later) — before a failure of the
// primary can take them over. With none waiting for any primary, end,
// when not nil, ends the restore's mark, a commit of the store: it is
// called without the manager's lock (Step calls it after letting it
// go), so that no heartbeat waits on that commit.
type RestoredLister interface {
	RestoredWaiting(primary string) (waiting bool, end func())
}

// ReconcileDest + primary is the destination of reconciliation
// sessions in the scheduler (window 1).
const ReconcileDest = "shadow-check:"

const (
	reconcileEvery = 10 * time.Minute
	heldBatch      = 100
)

// reconcileDue lists the primaries to reconcile now, marking them
// started, and the ends of a restore's mark the store returned
// (RestoredLister), for the caller to call once it has let m.mu go;
// m.mu held.
func (m *Manager) reconcileDue(primaries []Primary, now time.Time) ([]Primary, []func()) {
	if _, ok := m.cfg.Heartbeater.(Reconciler); !ok {
		return nil, nil
	}
	if _, ok := m.cfg.Store.(HeldLister); !ok {
		return nil, nil
	}
	var due []Primary
	var ends []func()
	for _, p := range primaries {
		last, asked := m.reconciled[p.Name]
		if p.TakenOver || p.Failures > 0 || p.DatabaseID == "" || m.reconciling[p.Name] ||
			m.rec.refusedWithin(p.Name, now, m.timing.Timeout) { // it refuses this server: asked after a heartbeat gets in
			continue
		}
		if asked && now.Sub(last) < reconcileEvery && !now.Before(last) {
			waiting, end := m.restoredDue(p.Name, now, last)
			if end != nil {
				ends = append(ends, end)
			}
			if !waiting {
				continue
			}
		}
		m.reconciled[p.Name] = now
		m.reconciling[p.Name] = true
		due = append(due, p)
	}
	return due, ends
}

// restoredDue reports whether primary, last asked since ago, is to be
// asked again before reconcileEvery: a copy a db restore of this server
// brought back is still held for it (RestoredLister) — its primary
// answered "still mine" at the last question, and may be done with it
// since (it made the copy again elsewhere when it met this server's new
// database, and delivered): asked again every heartbeat interval until
// it is settled or old enough for the age rule (rt18b F2), so that no
// failure of the primary meanwhile takes it over and delivers it a
// second time. m.mu held; the store is read only then, and at most once
// a heartbeat interval per primary (restoredAsked): the step runs about
// once a second. The end of the restore's mark the store may return (a
// commit) is the caller's to call without m.mu.
func (m *Manager) restoredDue(primary string, now, last time.Time) (bool, func()) {
	rl, ok := m.cfg.Store.(RestoredLister)
	every := max(m.timing.Timeout, time.Second)
	if !ok || now.Sub(last) < every {
		return false, nil
	}
	if at, ok := m.restoredAsked[primary]; ok && now.Sub(at) < every && !now.Before(at) {
		return false, nil
	}
	m.restoredAsked[primary] = now
	return rl.RestoredWaiting(primary)
}

// restoredWaiting asks rl, without m.mu, and ends the restore's mark
// at once when it says so.
func restoredWaiting(rl RestoredLister, primary string) bool {
	waiting, end := rl.RestoredWaiting(primary)
	if end != nil {
		end()
	}
	return waiting
}

// reconcile runs one reconciliation with primary p.
func (m *Manager) reconcile(ctx context.Context, p Primary) error {
	defer func() {
		m.mu.Lock()
		delete(m.reconciling, p.Name)
		m.mu.Unlock()
	}()
	m.mu.Lock()
	after := m.cursor[p.Name]
	m.mu.Unlock()
	ids, next, err := m.cfg.Store.(HeldLister).HeldCopies(p.Name, after, heldBatch)
	if err != nil {
		m.cfg.Log.Error("listing shadow copies to ask the primary about failed", "primary", p.Name, "err", err)
		return nil
	}
	m.mu.Lock()
	m.cursor[p.Name] = next
	m.mu.Unlock()
	if len(ids) == 0 {
		return nil
	}
	// Copies a db restore of this server brought back are asked about
	// whatever their age: their discards came, and were applied here
	// after the backup; the WARN says so rather than "went missing".
	restored := false
	if rl, ok := m.cfg.Store.(RestoredLister); ok {
		restored = restoredWaiting(rl, p.Name)
	}
	err = m.cfg.Heartbeater.(Reconciler).Reconcile(ctx, p.Name, p.Addr, ids, m.rec.saveFinished(p.Name, len(ids), restored))
	if as, ok := m.cfg.Store.(AnswerStore); ok && err == nil {
		// A completed session: a heartbeat that began before it and
		// fails takes nothing over (the primary is alive).
		as.Answered(p.Name)
	}
	if rl, ok := m.cfg.Store.(RestoredLister); ok && err == nil && next != 0 && restoredWaiting(rl, p.Name) {
		m.mu.Lock()
		delete(m.reconciled, p.Name) // the next batch at the next step
		m.mu.Unlock()
	}
	var ref Refusal
	own, digested := false, false
	if err != nil && ctx.Err() == nil && errors.As(err, &ref) {
		own, digested = m.refusedByPrimary(p.Name, err)
	}
	if own {
		if m.rec.refused(p.Name, SessionReconcile, ref.Refusal(), digested) {
			m.cfg.Log.Warn("primary refused the question about old shadow copies", "primary", p.Name, "addr", p.Addr, "reply", ref.Refusal())
		}
	} else if err != nil && ctx.Err() == nil {
		if ref != nil {
			err = notPrimary(err, ref) // not the primary (refusedByPrimary): a failed session
		}
		m.cfg.Log.Debug("asking a primary about old shadow copies failed", "primary", p.Name, "err", err)
	}
	return nil // failures are the heartbeats' to judge
}

// saveFinished is the Save of a reconciliation with primary name: the
// database id first (Presented: a new one takes the copies over), then
// the copies the primary is done with, applied as discards. restored:
// copies a db restore of this server brought back are among those asked
// (RestoredLister), which is then the likely reason no discard came.
//
// A session whose XSHADOW presented a new database id took the copies
// over at its first save (SR-7); that database's answer to the question
// is about records it never had — it holds no unfinished record of a
// message accepted under the old one, so it answers "done" for each —
// and settles none of them: applied, it dropped the copies just taken
// over, the only copy of each message (CI run 111,
// TestReconcileAnswerOfNewDatabaseDropsNoCopy).
func (r *Recorder) saveFinished(name string, asked int, restored bool) Save {
	renewed := false // this session's database id took the copies over
	return func(dbID string, _ uint64, done []string, _ bool) error {
		if len(done) == 0 {
			res, err := r.store.Presented(name, dbID, 0, nil)
			if err != nil {
				r.logRecordFailed("recording a primary's database id failed", name, dbID, err)
				return &SaveError{err}
			}
			if dbID != "" {
				r.admitted(name, time.Time{}) // it answered XSHADOW: this server is in
			}
			r.contacted(name, dbID, nil, res)
			renewed = renewed || res.OldDatabaseID != ""
			return nil
		}
		if renewed {
			r.log.Info("a primary back with a new transport database answered about copies made under its old one: the answer settles none of them (they were taken over)",
				"primary", name, "asked", asked, "finished", len(done))
			return nil
		}
		// An answer to XQUERYHELD presents no mark: an early discard
		// it leaves is kept under the stored one (queue AddEarlyDiscard).
		apply := func(name, dbID string, done []string) (ContactResult, error) {
			return r.store.Presented(name, dbID, 0, done)
		}
		if hs, ok := r.store.(HeldDoneStore); ok {
			// Held copies only: a rollback mark in this session's
			// XSHADOW reply took them over under the same database id,
			// and the rolled-back file answers "done" for the copies
			// made after it (TestReconcileAnswerOfRolledBackPrimaryDropsNoCopy).
			apply = hs.HeldDone
		}
		res, err := apply(name, dbID, done)
		if err != nil {
			r.log.Error("dropping shadow copies the primary is done with failed", "primary", name, "err", err)
			return &SaveError{err}
		}
		switch {
		case res.Discarded > 0 && restored:
			r.log.Warn("dropped shadow copies the primary is done with (a db restore of this server brought them back: their discard notifications came, and were applied, after the backup)",
				"primary", name, "asked", asked, "finished", len(done), "dropped", res.Discarded)
		case res.Discarded > 0:
			r.log.Warn("dropped shadow copies the primary is done with (their discard notifications went missing, or were applied here before a db restore brought the copies back)",
				"primary", name, "asked", asked, "finished", len(done), "dropped", res.Discarded)
		}
		r.contacted(name, dbID, nil, res)
		return nil
	}
}
