package queue

import (
	"time"
)

// DestinationLimiter is implemented by a Deliverer that can name the
// limit a job of a destination gets under the configuration in force
// (Job.Max: its send connector's max_connections, 0 for none of its
// own). ok is false for a destination it cannot name a limit for now (a
// redirect target, whose limit comes from each recipient's connector; a
// connector the configuration no longer has): that one keeps its limit
// until its next job.
type DestinationLimiter interface {
	DestinationLimit(key string) (max int, ok bool)
}

// DestinationNamer is implemented by a Deliverer that can say whether
// the configuration in force names a destination: false for a send
// connector's destination after a reload renamed or removed the
// connector; true for every destination it cannot judge (an MX domain,
// a redirect target, a site), which stay until idle for an hour
// (pruneDests).
type DestinationNamer interface {
	DestinationNamed(key string) bool
}

// SetReloadable applies settings a configuration reload changes that
// the manager was built with: maxWindow (max_connections_per_destination,
// the limit of a destination whose job names none) and duplicateWindow
// (how long final deliveries are remembered; the next pruning uses it).
// Zero leaves a setting as it is. The destinations known already take
// their limit under the reloaded configuration at once — the default, or
// their send connector's own max_connections as the deliverer (a
// DestinationLimiter, reloaded before this call) now names it —, a
// window above it shrinking to it: queue destinations, queue list and
// the window gauge show the configuration in force, not the one of each
// destination's last job. A destination the reloaded configuration no
// longer names (a DestinationNamer says so: a renamed or removed send
// connector's) with no job waiting or running is dropped, with its
// streak, its cool-down and so its metrics series: it was listed
// failing or dead under a queue that no longer exists, and a resume of
// that queue promised its cool-down though the released mail goes to
// the connector in force (rt26c F4, F5). One with a job goes when idle
// (pruneDests).
func (q *Manager) SetReloadable(maxWindow int, duplicateWindow time.Duration) {
	limiter, _ := q.del.(DestinationLimiter)
	held := q.reloadDests(limiter, maxWindow)
	q.wakeHeld(held) // throttled for a destination that is gone: not until their recheck
	if duplicateWindow > 0 {
		q.pmu.Lock()
		q.cfg.DuplicateWindow = duplicateWindow
		q.pmu.Unlock()
	}
}

// reloadDests applies maxWindow and the deliverer's limits to the
// destinations known, dropping those the configuration no longer
// names; it returns the messages held for a dropped one. The
// deliverer's code runs under the scheduler's lock here (DestinationNamed,
// DestinationLimit): the unlock is deferred, so that a panic of it,
// recovered by the reload's caller, leaves the scheduler free — some
// destinations reloaded, the rest as they were — not locked for good.
func (q *Manager) reloadDests(limiter DestinationLimiter, maxWindow int) (held []ID) {
	q.sched.mu.Lock()
	defer q.sched.mu.Unlock()
	if maxWindow > 0 {
		q.sched.cfg.MaxWindow = maxWindow
	}
	now := q.clk.Now()
	for k, d := range q.sched.dests {
		if q.unnamed(d) {
			if d.busy == 0 && len(d.waiting) == 0 {
				q.log.Info("destination dropped: the configuration no longer names it", "next_hop", d.key, "queue", d.queue)
				held = append(held, d.wakeSome(now)...) // the rest wait for their recheck
				delete(q.sched.dests, k)
			}
			continue
		}
		own, def := d.max, d.defaultMax
		if limiter != nil && !d.task {
			if max, ok := limiter.DestinationLimit(d.key); ok {
				own, def = max, max <= 0
			}
		}
		if def {
			own = q.sched.cfg.MaxWindow
		}
		d.max, d.defaultMax = own, def
		d.window = min(d.window, own)
	}
	return held
}

// unnamed: d is a mail destination the configuration in force does not
// name (DestinationNamer). Called with q.sched.mu held.
func (q *Manager) unnamed(d *dest) bool {
	namer, ok := q.del.(DestinationNamer)
	return ok && !d.task && !namer.DestinationNamed(d.key)
}
