package queue

import "time"

// SetReloadable applies settings a configuration reload changes that
// the manager was built with: maxWindow (max_connections_per_destination,
// the limit of a destination whose job names none; destinations take it
// at their next job) and duplicateWindow (how long final deliveries are
// remembered; the next pruning uses it). Zero leaves a setting as it is.
func (q *Manager) SetReloadable(maxWindow int, duplicateWindow time.Duration) {
	if maxWindow > 0 {
		q.sched.mu.Lock()
		q.sched.cfg.MaxWindow = maxWindow
		q.sched.mu.Unlock()
	}
	if duplicateWindow > 0 {
		q.pmu.Lock()
		q.cfg.DuplicateWindow = duplicateWindow
		q.pmu.Unlock()
	}
}
