package queue

import "time"

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
// destination's last job.
func (q *Manager) SetReloadable(maxWindow int, duplicateWindow time.Duration) {
	limiter, _ := q.del.(DestinationLimiter)
	q.sched.mu.Lock()
	if maxWindow > 0 {
		q.sched.cfg.MaxWindow = maxWindow
	}
	for _, d := range q.sched.dests {
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
	q.sched.mu.Unlock()
	if duplicateWindow > 0 {
		q.pmu.Lock()
		q.cfg.DuplicateWindow = duplicateWindow
		q.pmu.Unlock()
	}
}
