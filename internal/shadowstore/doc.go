// Package shadowstore adapts the transport database (queue.Manager) to the
// shadow manager's Store interface. Package shadow is pure logic and
// package queue must not import it, so the adapter stands between them,
// shared by the daemon (cmd/umbra) and the simulation (internal/sim).
//
// Invariant: every method is one call into the queue manager, which makes
// it one commit; the adapter keeps no state of its own.
package shadowstore
