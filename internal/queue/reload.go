package queue

import "time"

// SetReloadable applies settings a configuration reload changes that
// the manager was built with: maxWindow (max_connections_per_destination,
// the limit of a destination whose job names none; the destinations
// known already take it at once, a window above it shrinking to it) and duplicateWindow (how long final deliveries are
// remembered; the next pruning uses it). Zero leaves a setting as it is.
func (q *Manager) SetReloadable(maxWindow int, duplicateWindow time.Duration) {
	if maxWindow > 0 {
		q.sched.mu.Lock()
		q.sched.cfg.MaxWindow = maxWindow
		// The destinations known already take the new limit now, not
		// at their next job: queue destinations and the window gauge
		// show the configuration in force.
		for _, d := range q.sched.dests {
			if d.defaultMax {
				d.max = maxWindow
				d.window = min(d.window, maxWindow)
			}
		}
		q.sched.mu.Unlock()
	}
	if duplicateWindow > 0 {
		q.pmu.Lock()
		q.cfg.DuplicateWindow = duplicateWindow
		q.pmu.Unlock()
	}
}
