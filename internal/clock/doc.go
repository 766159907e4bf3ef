// Package clock is the one source of time for umbra's timers: retries,
// expiry, delay notifications, heartbeats, delayed acknowledgement and
// dumpster age all read it, so tests can replace it with Fake and move time
// by hand instead of sleeping.
//
// Invariant: no umbra package calls time.Now, time.After or time.NewTimer
// for a decision that a test must control; wall-clock reads for log lines
// and trace headers may use time.Now directly.
//
// Monotonic leaves a suspend of the machine out (Go's timers run on that
// clock); Boottime counts it (Linux's CLOCK_BOOTTIME), for what another
// machine saw pass while this one did not run (the queue's stall guard).
package clock
