// Package clock is the one source of time for umbra's timers: retries,
// expiry, delay notifications, heartbeats, delayed acknowledgement and
// dumpster age all read it, so tests can replace it with Fake and move time
// by hand instead of sleeping.
//
// Invariant: no umbra package calls time.Now, time.After or time.NewTimer
// for a decision that a test must control; wall-clock reads for log lines
// and trace headers may use time.Now directly.
package clock
