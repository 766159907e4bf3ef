// Package panicline is the one rule for the log line of a recovered
// panic, wherever umbra recovers one (a receive session, an outbound
// delivery or shadow session): a panic any peer could provoke again
// must not write a stack per connection.
//
// Invariants:
//   - At most one line per Interval for one Gate; each panic in between
//     is counted, and the next line says how many were left out
//     ("suppressed", N).
//   - A line's stack is cut at MaxStack bytes.
//   - Counting the panic in a metric is the caller's, before it asks the
//     Gate: every panic is counted whether or not its line is written.
//   - Gate.Due is the same rule for any other line a loop may repeat
//     (a stall of the process, a store failing at every pass): one line
//     per Interval, the events in between counted on the next.
//   - It imports no umbra package: any package may use it.
package panicline
