package shadow

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
)

// Watcher keeps one shadow session open to a primary while senders wait
// for its confirmation (delayed acknowledgement, SR-9, SR-15): the
// primary pushes each discard notification on that session as it
// commits (XQUERYDISCARD WAIT=, shadow verbs version 2), or, with a
// primary of the previous release, is asked on that same session at a
// short pace. No connection is opened per query.
//
// Watch returns when more reports false (after one last query, the
// end-of-session query of SR-3, and QUIT), when ctx ends, or on an error
// of the session. save is called with the database id on XSHADOW
// (discards nil, contact false) and with every completed query's
// notifications (contact true), and returns once they are committed;
// Watch sends its next command only after that (Heartbeater, SR-15). A
// save that fails ends the session at once, without another command,
// and is returned.
type Watcher interface {
	Watch(ctx context.Context, primary, addr string, save Save, more func() bool) error
}

// TaskFailer is implemented by a Runner that can count a failure of a
// task while it goes on (queue.Manager.TaskFailed): a watch session's
// failed connection, retried inside the same task.
type TaskFailer interface {
	TaskFailed(dest string, err error)
}

// watchRetry is the pause before a failed watch session is opened again:
// at most one new connection per second per primary, at any load. A
// refused one is not retried before a heartbeat timeout (startWatch).
// While the primary stays down, or a fault of this server's own ends
// each session (a panic here, its store failing), the pause doubles
// after each failed try,
// up to watchPauseMax or the heartbeat timeout if shorter (watchPause):
// the heartbeats judge the outage (watch40 item 2).
const watchRetry = time.Second

// watchPauseMax bounds the pause between two tries of a watch session
// to a primary that stays down. The try is what finds the primary back:
// a heartbeat comes a timeout after the last (300 s by default), so a
// pause that grew to the heartbeat timeout left the discards of what
// the primary delivered once back waiting that long, and a kill -9 of
// it in that window made this server take the copies over and deliver
// them again (rrwatch40). A refused connection every 4 s is nothing.
const watchPauseMax = 4 * time.Second

// watchPause is the pause after the failed try that followed a pause of
// last (0: the first failure of an outage), bounded by watchPauseMax
// and the heartbeat timeout.
func watchPause(last, timeout time.Duration) time.Duration {
	d := 2 * last
	if d < watchRetry {
		d = watchRetry
	}
	if bound := max(min(timeout, watchPauseMax), watchRetry); d > bound {
		d = bound
	}
	return d
}

// startWatch runs a watch session to primary unless one runs already;
// it reports whether the heartbeater can watch at all.
func (m *Manager) startWatch(name string) bool {
	w, ok := m.cfg.Heartbeater.(Watcher)
	if !ok {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.runCtx == nil || m.watching[name] {
		return true // the first step starts it, or it runs
	}
	now := m.cfg.Clock.Now()
	if m.rec.refusedSince(name, now, m.timing.Timeout, m.reloaded) || m.rec.watchHeld(name, now, m.timing.Timeout, m.reloaded) {
		// The primary refuses this server's sessions, or a watch
		// session was refused (by it, or by something else at its
		// address): another waits a heartbeat timeout after the last
		// refusal (one try per timeout, as the heartbeats), or until a
		// session is let in, or a reload (WatchHeld: it may have fixed
		// what was refused).
		return true
	}
	m.watching[name] = true
	ctx := m.runCtx
	m.mu.Unlock()
	ok = m.cfg.Runner.StartTask(ctx, WatchDest+name, shadowQueue(name), 1, func(ctx context.Context) error {
		m.watch(ctx, w, name)
		return nil // its failures are the heartbeats' to judge
	})
	m.mu.Lock()
	if !ok {
		delete(m.watching, name) // the scheduler stopped: nothing to watch for
	}
	return true
}

// stillUrgent: a sender still waits for primary's confirmation.
func (m *Manager) stillUrgent(name string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	until, ok := m.urgent[name]
	return ok && m.cfg.Clock.Now().Before(until)
}

func (m *Manager) watch(ctx context.Context, w Watcher, name string) {
	wake := make(chan struct{}, 1)
	m.mu.Lock()
	m.watchWake[name] = wake
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.watching, name)
		delete(m.watchDown, name)
		delete(m.watchWake, name)
		m.mu.Unlock()
	}()
	// pause is the last pause after a failure of the primary's (0: none
	// since a session was let in); outage, whether this outage was logged.
	// faultPause and fault are the same for sessions ended by a fault of
	// this server's own: since the last session that ended otherwise.
	var pause, faultPause time.Duration
	outage, fault := false, false
	for ctx.Err() == nil && m.stillUrgent(name) {
		addr, ok := m.primaryAddr(name)
		if !ok {
			return // no copies left for it
		}
		var opened atomic.Bool
		save := m.rec.save(name)
		err := w.Watch(ctx, name, addr, func(dbID string, mark uint64, discards []string, contact bool) error {
			opened.Store(true) // the primary answered XSHADOW: no outage
			return save(dbID, mark, discards, contact)
		}, func() bool { return m.stillUrgent(name) })
		if opened.Load() {
			if outage {
				m.cfg.Log.Info("watch session to primary open again", "primary", name, "addr", addr)
			}
			pause, outage = 0, false
		}
		var local LocalFault
		if err == nil || ctx.Err() != nil || !(errors.As(err, &local) || localSaveError(err)) {
			if fault {
				m.cfg.Log.Info("watch session to primary no longer ended by a fault of this server's", "primary", name, "addr", addr)
			}
			faultPause, fault = 0, false
		}
		if err == nil || ctx.Err() != nil {
			continue
		}
		// Failures are the heartbeats' to judge; this only waits. A
		// refusal is the operator's to fix (this server cannot log in to
		// the primary, or has no right to the shadow verbs): at WARN
		// with the primary's reply, once a minute per primary, and the
		// watch ends — startWatch opens the next a heartbeat timeout
		// after the refusal, not a second later.
		var ref Refusal
		if errors.As(err, &ref) {
			if own, digested := m.refusedByPrimary(name, err); own {
				if m.rec.refused(name, SessionWatch, ref.Refusal(), digested) {
					m.cfg.Log.Warn("primary refused the watch session", "primary", name, "addr", addr, "reply", ref.Refusal())
				}
			} else {
				// Something that refuses without the primary's database
				// digest is not the primary (refusedByPrimary): no
				// refusal of the primary's, but asking it again each
				// second would only be refused again.
				m.cfg.Log.Debug("watch session to primary failed", "primary", name, "err", notPrimary(err, ref))
			}
			m.rec.holdWatch(name, m.cfg.Clock.Now())
			return
		}
		var wait time.Duration
		if errors.As(err, &local) || localSaveError(err) {
			// This server's own fault (a panic, its store failing, a
			// source address it cannot bind):
			// nothing said of the primary, so neither the views nor the
			// scheduler count it. It backs off as for a primary that is
			// down (watchPause): a fault that lasts would end every
			// session the same way, and one a second was a connection
			// to the primary a second for nothing (stall41 item 2).
			// Logged once for the incident, and at most once a minute
			// per primary (a fault that comes and goes); the panic
			// itself is logged at ERROR where it was recovered.
			if !fault {
				m.rec.mu.Lock()
				due := m.rec.warnDue(name, "watch-fault", m.cfg.Clock.Now())
				m.rec.mu.Unlock()
				if due {
					// At ERROR: this server's to fix (err says what).
					m.cfg.Log.Error("watch session ended by a fault of this server's; retried with a growing pause, the primary is not marked failing",
						"primary", name, "err", err, "max_pause", max(min(m.Timing().Timeout, watchPauseMax), watchRetry).String())
				}
				fault = true
			}
			faultPause = watchPause(faultPause, m.Timing().Timeout)
			wait = faultPause
		} else {
			m.watchFailed(name, err)
			timeout := m.Timing().Timeout
			if !outage {
				m.cfg.Log.Info("watch session to primary failing; retried with a growing pause, its heartbeats judge the outage",
					"primary", name, "addr", addr, "err", err, "max_pause", max(min(timeout, watchPauseMax), watchRetry).String())
				outage = true
			}
			pause = watchPause(pause, timeout)
			wait = pause
		}
		// A contact after it ends the pause (Step): the primary is back,
		// or this server's fault cleared (a heartbeat stored what it
		// said; rrstall41 item 2) — the discards of what the primary
		// delivers now would wait out the pause.
		m.mu.Lock()
		m.watchDown[name] = m.cfg.Clock.Now()
		m.mu.Unlock()
		t := m.cfg.Clock.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-t.C():
		case <-wake:
		}
		t.Stop()
		m.mu.Lock()
		delete(m.watchDown, name)
		m.mu.Unlock()
	}
}

// localSaveError reports whether err ended a session because this
// server's store failed to save what the primary sent (SaveError, not a
// contact the store refused for another server's database id): the
// primary answered; the fault is this server's (shadow28 item 3: a
// watch session's marked the primary unreachable and counted in its
// destination's failures).
func localSaveError(err error) bool {
	var saveErr *SaveError
	if !errors.As(err, &saveErr) {
		return false
	}
	var o anotherDatabase
	return !errors.As(saveErr.Err, &o)
}

// watchFailed reports the failure of a watch session to name that is no
// local fault. The task goes on (the next connection after a pause:
// watchPause),
// so its failure is reported to the scheduler now: the destination's
// row counts it with its error, and the views show the primary
// unreachable, instead of a watch running without failures while
// nothing answers (rt27 F8).
func (m *Manager) watchFailed(name string, err error) {
	m.rec.watchFailing(name, err)
	if tf, ok := m.cfg.Runner.(TaskFailer); ok {
		tf.TaskFailed(WatchDest+name, err)
	}
}

// primaryAddr is where sessions to primary go, as the store holds it;
// false when no copies are held for it.
func (m *Manager) primaryAddr(name string) (string, bool) {
	primaries, err := m.cfg.Store.Primaries()
	if err != nil {
		return "", false
	}
	for _, p := range primaries {
		if nameKey(p.Name) == nameKey(name) { // the store keeps one folded spelling (queue/primaryfold.go)
			return p.Addr, true
		}
	}
	return "", false
}
