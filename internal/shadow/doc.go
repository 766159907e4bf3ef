// Package shadow is the shadow-server half of shadow redundancy (SPEC SR-3,
// SR-5, SR-6, SR-7): for every primary this server holds shadow copies for,
// it tracks the last contact, the primary's transport database id and the
// failed heartbeats, and decides when to query, when to take over and when
// to resubmit. It is logic over interfaces — the queue (Store) keeps the
// copies and the delivery code (Heartbeater) speaks SMTP — with time from
// an injected clock, so 3 × 300 s is tested in microseconds.
//
// State of one primary:
//
//	            Contact (delivery session or heartbeat: discards applied)
//	   ┌──────────────────────────────────────────────┐
//	   ▼                                              │
//	[healthy] ──timeout without contact──▶ heartbeat ─┤ ok
//	   ▲                                      │ fails │
//	   │                                      ▼       │
//	   └──────────── failures < retries ── [failing] ─┘
//	                                          │ failures == retries
//	                                          ▼
//	                                      Takeover (copies back to routing), state dropped
//
//	Contact with a database id other than the one known ─▶ Takeover at once
//	(the primary lost its queue: SR-7)
//
// Delayed acknowledgement (SR-9, SR-15): Expedite marks a primary urgent
// for a minute; while it is, one watch session (Watcher, watch.go) stays
// open to it and brings each discard as the primary commits it — no
// connection per query, and a failed watch session is reopened at most
// once per watchRetry. Watch sessions count as contacts; their failures
// are left to the heartbeats to judge.
//
// Invariants: a heartbeat is one bounded SMTP session (every step has a
// timeout, W-7), so a hung primary counts as a failed heartbeat; takeover
// happens about timeout × retry count after the last contact; a primary
// without shadow copies has no state.
package shadow
