// Package queue is umbra's transport database and queue manager.
//
// Store is the only code that opens bbolt and owns transaction boundaries;
// Manager is the only scheduler. Delivery code (package delivery) only
// reports per-recipient results; it never touches the store.
//
// Who decides what (the runtime's three parts): the scheduler here
// decides when and how many — messages, and the timed work of its
// clients (shadow redundancy's heartbeats and watch sessions: Client,
// StartTask, tasks.go); package delivery speaks SMTP/LMTP and writes
// mailboxes; the store keeps state. Shadow redundancy's rules (package
// shadow: which heartbeat is due, what a contact changes) are a client:
// the scheduler steps it on its own loop and runs its sessions in the
// primary's destination window; nothing else has a timing loop of its
// own for mail or primaries. The parts get one another at construction
// — the shared state first (Store, FinalClaims, Health), then the
// deliverer, then the Manager, then its clients given to Start — never
// through a setter or a mutable hook (cmd/umbra's TestNoLateBinding).
// Writers other than the manager (the dumpster's redelivery) wake it
// through the store (Store.Wake).
//
// Files, by what they decide or keep:
//   - store.go, tx.go, schema.go, record.go: the transport database
//     (state); idreserve.go: ids reserved ahead in commits, so that none
//     handed out is handed out again; damaged.go: records that do not
//     decode, set aside; filecheck.go, pagewalk.go: a damaged file named
//     before (and when) bbolt reads it; emptydb.go: an empty queue.db
//     beside a spool directory is a truncated one, never made new;
//   - manager.go: the Manager, its configuration and lifecycle (Recover,
//     Start, Wait);
//   - submit.go: the funnel for new mail (Submit, SubmitKeyed);
//   - activeset.go: when — the time index, claiming due messages into the
//     bounded active set;
//   - scheduler.go, health.go: how many — per-destination queues and
//     windows, dead destinations, unanswering servers;
//   - tasks.go: the scheduler's clients (shadow redundancy's timing),
//     the tasks they start in a destination's window, and the primaries
//     senders wait on (markUrgent, ShadowUrgent);
//   - waitdue.go: a waiting message's delay notice and expiry;
//     expirycut.go: the expiry inside a running attempt;
//   - panics.go: what a panic on each of the manager's goroutines
//     leaves (every one recovers it, counts it by part and logs it);
//   - heldover.go: a held recipient's next hop's last reply, kept apart
//     from the hold's note, quoted by the DSNs, the expiry and the views;
//   - results.go: an attempt's results committed in one transaction, with
//     the DSNs they cause; jobcommit.go: what a job that ends while others
//     of its attempt run finished, committed then; noticecommit.go: the
//     delay notice of an attempt a job of which still runs when it falls
//     due, committed then; retry.go: the retry policy, requeue, poison;
//     peerwait.go: which crashes count toward poison (only those while
//     umbra's code ran on the message, as its slot says; a wait — on the
//     next hop, a mailbox's turn, the suspects' turn, a commit — never
//     counts);
//     suspectgate.go: messages that counted a crash run one at a time;
//   - shadowadmin.go: operator actions refused on shadow copies and on
//     queues nothing is delivered from; a record with nothing left is
//     removed where it is found;
//   - waiters.go (delayed acknowledgement and pickup waiters),
//     finalclaims.go (duplicate suppression at final delivery),
//     shadowprimary.go and shadowstate.go (both halves of shadow
//     redundancy in the store), hold.go (an operator's hold settles the
//     message's shadow copy), admin.go (the operator's commands),
//     queuebatch.go (queue resume, retry, redirect and flush in batches),
//     messagebatch.go (message suspend, resume, remove and retry of many
//     messages, many per commit, cut as queuebatch.go cuts them: each
//     message done or not after a crash, its effects after the commit
//     as for one message, its commit's events in one write),
//     bulktally.go (a bulk command's audit tally, written in the
//     commits of what it changed, and in commits of its own for what
//     it left unchanged and for a wait between its client's batches
//     (TallyUnchanged, TallyWaiting): after a crash it says what they
//     did),
//     twinoriginal.go (a copy taken over of a message whose original
//     this server holds: the original's recipients stay the original's),
//     dsn.go, dsnrelay.go, dumpster.go, refusal.go, rcptcache.go.
//
// # On-disk schema
//
// One bbolt file, queue.db, in the data directory. The buckets and key
// layouts are listed in schema.go; records are encoded in record.go (a
// version byte, then varints and length-prefixed strings; the decoder
// rejects every malformed input and is fuzzed). A record is written in
// version 2 unless it needs more — version 3 for a quarantined message,
// version 4 for one with a recipient held in a suspended queue with its
// next hop's reply kept apart (Recipient.HopReply, HopHost; heldover.go)
// — so every other record stays readable by an older release; every
// earlier version still decodes, and db compact --schema 4 or 3 writes
// a version-4 record in version 2, the hold's note alone. Every stored time, in a
// record or a key, is nanoseconds since 1970 saturated by nanos: a time
// before 1970 is stored as the zero time, one past 2262 as the last one
// held (StoredTime says what reads back), never a wrapped value. Message ids are
// microsecond timestamps made unique by NewID, big-endian, so cursor order
// is arrival order; they never repeat within a database, whatever the
// clock does, stored or only handed out: each new message's commit
// raises meta id_high, Open commits a reservation (meta id_reserved)
// above everything the last run can have handed out (ten seconds past
// the clock, or 100 ms past those ids when they are ahead of it: ids
// lead the clock by at most 10 s plus 100 ms per quick restart), commits keep it
// ahead of the ids, and NewID past it waits for one commit
// (idreserve.go; a run of an older release in between keeps neither,
// only the messages still stored). The database id (meta/db_id) is random and made with
// the file: a server with a new id has lost its queue.
//
// # States
//
//	Submit ──▶ Active (room in the active set) ─┐
//	       └─▶ Ready (schedule entry) ──claim──▶ Active ──results──▶ deleted (all recipients done)
//	                       ▲                      │                └▶ Ready at now+backoff (some pending)
//	                       └──────────────────────┘ requeue (shutdown)
//	results of an attempt the stop cut ──▶ Ready now, no attempt counted; its
//	                    deferrals read "delivery stopped by shutdown" (stopReply),
//	                    not the next hop's failure; no attempt and no job starts
//	                    once the stop began (Drain, at SIGTERM: claimed or
//	                    submitted mail goes back Ready, due now, unattempted;
//	                    attempts under way commit their results)
//	Active at start-up ──Recover──▶ Ready (crash count < threshold) or Poison
//	                    (a crash counts only if umbra's code was running on it,
//	                    never after a second signal's stop: StopAtOnce)
//	delivery panic ──▶ Poison        operator ──▶ Suspended (no schedule entry; never a Shadow copy;
//	                                 its own shadow copy discarded in that commit: hold.go)
//	(a panic the Deliverer recovers itself — package delivery, per group —
//	 is a result: Deferred with PanicReply, Ready as any retry)
//	a panic at an attempt's start or end, a job's end, in the loop ──▶
//	 a crash on purpose (exit 2; a lock may be held): Recover applies,
//	 its crash counted (Poison at PoisonThreshold); a panic of the
//	 queue's other goroutines leaves its message where the part's rule
//	 says (panics.go)
//	results with shadowed recipients and nothing pending ──▶ Shadow
//	claimed with nothing pending ──▶ Shadow (copies left) or deleted (nothing left)
//	Shadow ──discards from every primary──▶ deleted
//	Shadow ──Takeover (primary failed or has a new database)──▶ Ready (recipients pending again)
//
// Every new message (Submit, DSNs, resubmissions) is written by
// Tx.PutNew, which refuses one without recipients (ErrNoRecipients): it
// could never be delivered, only wait for expiry.
//
// A record that does not decode (its checksum failing included:
// checksum.go) is not a message: it is set aside in
// the bucket damaged and listed in the queue damaged, state Damaged,
// never written back (damaged.go). Beside a shadow copy's record the
// bucket keeps its primary's name (key id ‖ "copy-of"), for the views.
//
// Index invariants, kept by Tx.Put/Tx.Delete in the same transaction as
// the record: a message has a schedule entry iff it is Ready (keyed by its
// NextAttempt), an active entry iff it is Active, and one queues entry per
// queue of QueuesOf(m) — the per-next-hop queues: "submission" before the
// first attempt, then the queue delivery reported for each pending
// recipient ("mx:example.org", "smarthost:to-edge", "mailbox:DB01",
// "unreachable"), or "poison". Queue statistics are read from the index
// keys alone, with what the scheduler holds of the messages in their
// attempt: a first attempt counted in its jobs' queues instead of
// submission (firstAttemptsOf), and an Active message "waiting" in a
// queue where no job of it runs and its jobs — of that queue, or, for
// recipients its record names in another queue than their jobs'
// (unreachable after a retry, a redirect, a taken-over copy), the jobs
// of every one of them there — only wait for a slot (jobView.waitsIn):
// queue list, the gauges and message list agree. The scheduler reads
// only the schedule's due prefix and the active index, so memory and work
// are bounded by the active set (MaxActive), never by the queue size; no
// goroutine exists per queued message, only per running attempt.
//
// # Scheduling
//
// The manager decides when and how many (scheduler.go). The time index says when a message is due; a claimed
// message enters the active set (MaxActive messages, a bounded number of
// records in memory; the body is read when its first job starts). The
// Deliverer's Plan splits it, without I/O, into jobs, one per destination
// — next hop: an MX domain through a connector, a smart-host connector,
// a site's route, a mailbox database, a redirect target; a primary is the
// relay destination its route names. Each destination has a FIFO of jobs
// and a concurrency window: InitialWindow (5) when first seen, +1 after
// an attempt the next hop answered (whatever it answered: a result
// whose host gave its own reply in a session it kept — its "451 4.4.2
// too busy" to MAIL, its own 4.7.5 — or answered out of step or stray
// says so, Result.Answered; after a restart the recipient's stored
// reply, next hop and queue say the same, AnsweredReply: a host's own
// reply that is no 421, in words that do not name it — a server of the
// organisation relayed to through its shadow session is recorded by
// its name alone, and umbra's words that name no host are none of its
// replies; the same reading makes NotReached and the DSN take such a
// hub's own "451 4.4.1 no host reachable" for its reply, not umbra
// reaching no host: deliv48), −1 after one it did
// not (every recipient deferred with an X.4.X network status in umbra's
// words, or the host's own 4.4.2 whose result does not say it answered,
// and every 421 — the host closing its session, RFC 5321 §3.8, whatever
// its enhanced status or none: "421 4.7.0 too many connections from
// your IP" and "421 4.3.2 shutting down" as much as "421 4.4.2",
// HostClosed; the destination's last error is then the failure that
// shrank the window, not the job's first result, feedbackOf — a host
// that answered out of step or closed with a 421, its recipients gone
// on to a backup that could not be connected to, keeps its own result,
// so the attempt counts what that host did and a dead mark names it,
// not the backup's refused connection: deliv48); 0 — the
// window and the failures in a row as they were — for hosts tried that
// all answered and did not take the message (NotSentReply: nothing was
// delivered, nor a contact failed);
// umbra's X.7.5 TLS policy refusal — MTA-STS, DANE, REQUIRETLS — is the
// message's, not the host's, and changes neither the window nor the
// streak: rt17f-F3; so is a next hop that is this server itself, the
// configuration's loop (451 4.4.6, RoutingLoop, in the REQUIRETLS form
// too); so is a failure after the whole body was sent —
// the connection dropped after the final dot, no readable reply to it
// (MayHaveArrived): the next hop took the session and the envelope, so
// it is this message's failure and no evidence that the destination is
// dead for the others, as Postfix's qmgr throttles a site only on
// failures of the session itself — four drops after the data and one
// unanswered dot made the destination dead and the ordinary mail to the
// same healthy host bounced untried at its expiry: rt32d F2,
// TestQ6MessageFailureDoesNotKillDestination), never above the destination's limit (its send
// connector's max_connections, else max_connections_per_destination; a
// reload gives the destinations known already their new limit at once,
// as the deliverer names it: SetReloadable, DestinationLimiter; and drops
// one of a send connector the reload renamed or removed, with its streak
// and cool-down, once no job of it waits or runs: DestinationNamer) nor
// below 1. A job that started before the destination's latest dead
// mark and ends after it is stale (dest.deaths): its result, success or
// failure, changes nothing of the destination's health — neither its
// failures in a row and the last error that made it dead nor its window
// — the cool-down's probe decides (deliv47: "destination dead", then its
// failures cleared by a session opened before it died). As many
// failures in a row as the window allowed when the
// streak began — a failed cohort — make the destination dead: for
// DeadCoolDown no connection is made, its jobs are deferred at once
// ("451 4.4.1 destination … is dead": outcome deadWait, tracked as a
// deferral — once per change: a recipient that already waited on the
// same dead destination raises no new event, so the tracking log grows
// with what happened, not with cool-downs × queue size — but no
// attempt — no connection was made, so no step of the retry schedule
// is used; the message is due again when the cool-down
// ends, with the probe, or at once when the results commit after the
// destination was revived — each such recipient at its own
// destination's cool-down end (Result.deadEnd, a time: the time left,
// counted again from a later commit, put the held mail in no order of
// age and the probe was not the oldest, rt33 F4), the message at the
// earliest of its recipients' times, at once when its attempt ends
// after that end (another job held it open: rt33 F1); the
// recipient's reply carries its own last real reply (its own last
// attempt's) and its next hop that reply's
// host (deadWaitReply), so that a delay or failure DSN made meanwhile
// reads the body and reports the remote host's words, as any DSN:
// dsnDue, withRealReplies — and a recipient no host replied to yet
// keeps the bare mark: the reply that made the destination dead was
// another message's session, and a destination's failure is never
// written into another message's record as its result (rt32d F1, F4:
// a greeting timeout of another connection, another message's
// unanswered dot, quoted as this one's "last reply"); it stays the
// destination's last error (Destinations). After the cool-down one
// probe (window 1) goes through and success regrows the window; the
// probe is not the message whose failure made the destination dead:
// that failure's commit makes it due a second after the cool-down's
// end at the earliest (Result.notBefore), and so does the dead mark's
// answer to a job of it claimed meanwhile (its retry capped at its
// delay notice: dest.killer), behind the mail the cool-down held (due
// at its end), so the probe is another message
// when one waits and the destination's fate is not one message's,
// cool-down after cool-down (rt32d F2: the hung message was the probe
// again; TestQ6DeadDestinationNeitherLendsItsErrorNorReprobesTheSameMessage).
// Within a destination its jobs wait in one FIFO, so a message whose
// job hangs in a window of 1 holds the slot for that attempt only: the
// mail queued behind it goes next, before its retry; an operator's retry or flush
// ends every cool-down at once; a resume does
// not (it releases what was held, which then waits for the cool-down's
// end as the rest of its destination's mail; each batch of a resume says
// where the messages it made due go — the destinations the planner names
// for them now, which a reload may have moved away from the resumed
// queue's name: BatchResult.Released, releasedTo), nor does a redirect (it
// moves mail to another next hop and leaves the old one's health alone).
// DeadCoolDown defaults to the first retry step (at most 5 min).
// The operator's view of a destination (Destinations: queue
// destinations, the API, the console, umbra_scheduler_destinations)
// says the first state that holds: suspended (its queue), dead (until
// the cool-down's end), failing (failures in a row and no success
// since, with the earliest retry a failed job of it left: in memory,
// set when that attempt's results are committed; NoMailLeft, with no
// next try, when nothing of it runs, waits or is queued: its mail
// redirected or removed), active, idle — never idle while it fails
// (sched24), with mail or without. Failures in a row count the session's
// failures (the streak) and the messages' own failures — after their
// final dot (MayHaveArrived), a TLS policy refusal (X.7.5,
// rt43-outbound F1) or the routing loop: dest.msgFails, messageFailure —, the last of either its last
// error: a failure after the dot changes neither window, streak nor
// death, but a next hop that hangs or drops after every final dot is
// shown failing, with that error, until its next success — never idle
// with all its mail deferred
// (TestHungAfterDotDestinationShownFailing). A restart rebuilds the
// failures from the last replies of the mail waiting in each queue
// (healthrestore.go), as message failures: for the view only.
// Destinations with waiting jobs are served round robin, one job
// each per turn; a job starts only when its destination's window has
// room, so delivery never waits for a slot and a slow, tarpitting or
// dead destination holds its own window and nothing else. The active
// set itself is shared: once less than a quarter of it is free, a
// destination that already holds a quarter (running and waiting), or
// its window when that is more, gets no more — and never more than the
// set less its last quarter (one slot at least: destHoldLimit), whatever
// its window: a new destination's window (5) above a small set
// (MaxActive 4) let six messages for a next hop hung at its greeting
// take every slot, and the other destinations' mail waited the command
// timeout (TestHungDestinationLeavesAnActiveSlot). The reserve applies
// only while it is needed (reserveNeeded): while another destination
// has mail waiting for its window or held back, or while the destination
// has not shown it ends its jobs (none succeeded yet, one failed since,
// one running past four times its average, a second at least, or two
// running that started since its last proof — a success of a job that
// started after the proof before: a next hop that delivered and then
// hung at its greeting took every slot with the burst that followed,
// TestHungAfterSuccessLeavesAnActiveSlot); the
// only destination with mail, ending its jobs, takes the whole set
// (max_active 2 gave it one slot: TestOnlyDestinationUsesTheWholeActiveSet),
// and mail of another that falls due meanwhile gets the slot its next
// job frees — or, when its jobs hang (a next hop that hung right after
// a success with max_active 2, or while its sessions filled the set),
// the reserve lent once they are overdue: claims go beyond max_active,
// by the reserve's share at most, until that share is free of overdue
// jobs (claimLimit, activeset.go), and the loop wakes when a running
// job turns overdue while mail is due
// (TestHungDestinationLendsTheReserveToOthers). A job that waits for a
// mailbox's turn (delivery mailboxturn.go: another LMTP transaction of
// this server holds the recipient's mailbox) lends its message's slot
// while it waits: one more claim per such message (one slot however
// many of its jobs wait), at most max_active more
// (WaitingTurn, turnwait.go), so a slow mailbox's backlog holds its own
// destination's window and no other destination's mail
// (TestQ6MailboxTurnWaitHoldsNoActiveSlot). A message claimed while
// the set had room may wait in memory for a slot of its destination's
// window; when due mail finds the set full, only work that can start
// now keeps a slot: the jobs waiting behind a full window give their
// messages' slots back (releaseBusy, answerBusy): throttled as below,
// into the time index, and the claims that follow keep the reserve
// (scheduler.dueBlocked: the due mail's destinations are not known
// before its claim). Otherwise such a message held its slot as long as
// the hung sessions it waited behind — until the command timeout — and
// with a slow but legitimate job in the last slot no other
// destination's mail could be claimed (rt30d F1,
// TestBusyWindowHoldsNoActiveSlot); and behind a slow but healthy
// destination (its jobs end) mail of another destination due after its
// backlog waited until the whole backlog was delivered, one slow job at
// a time (sched31 D2, TestSlowDestinationBacklogLeavesASlotForOthers).
// While the set has room, a job may wait in memory for its window: it
// keeps no other mail out, and `queue list` shows it `waiting`. A destination that
// throttled so counts as drained only below that bound too — the
// message's recipients for it go back to the time index,
// unattempted and with no retry step (outcome throttled: listed in the
// destination's queue, the throttle's note the message's last error, so
// every view shows it "retry" there, not "ready" in submission; a dead
// destination is never busy — its jobs are answered with its mark, due
// at the cool-down's end: rt27d F4), due again after
// the time the destination needs to work off what it holds (1 s to
// ThrottleRecheck), or at once when the destination drains before that
// (nothing waiting, room in its window: the estimate made at the verdict
// must not keep mail waiting on "destination busy" at an idle
// destination; a destination remembers every such message with its
// recheck, in memory only — counted exactly as waiting in Destinations,
// forgotten a second past its recheck, at most heldCap (1024) of them
// made due at a drain, the rest at their recheck or a later drain
// (TestDestinationWaitingCountsEveryHeldMessage); at a start Recover makes every message that waits only on
// such a recheck due at once, since the state behind the verdict is
// gone) — so a burst for one slow destination cannot keep the others'
// mail out. When the last job of a message reports, its results
// are committed in one transaction (finish) and its slot is freed.
//
// Clients and tasks (tasks.go): a client (shadow.Manager) is stepped on
// the scheduler's loop when it asked to be (at most a second apart for
// shadow redundancy), at once when a sender starts waiting on a primary
// (a message became a shadow copy there — handed on in a shadow
// session, a sender waiting or not: rt39 F1 — or the primary pushed a
// copy on receipt: markUrgent — state the client reads with
// the primaries, Primary.UrgentUntil) and at once after the wall clock
// stepped back. A step starts what is due with StartTask: a task of a
// destination ("shadow:PRIMARY" for heartbeats, "shadow-watch:PRIMARY"
// for watch sessions, window 1: one of each per primary at a time). A
// task starts only when its window has room and is never queued (its
// client asks again at its next step, so its timing — a heartbeat one
// timeout after the start of the last — is its own to keep); a running
// one holds its slot however long it hangs, so a hung primary holds its
// own window and no one else's; its result counts failures and the last
// error as a delivery does (shown in Destinations; a completed contact
// with the primary or a push from it clears them, and an idle task
// destination whose queue holds nothing is forgotten: tasks.go) — a refusal (an error
// with a Refusal method: the primary answered and refused) is the last
// error but no failure in a row — but never makes the
// destination dead: whether a primary failed is shadow redundancy's rule
// (SR-6). Shutdown refuses new tasks and Wait waits for the running ones.
// The clients get their turn whatever the delivery load: each pass of
// the loop claims at most one batch of due mail (claimDue) and then
// steps the clients whose time came; mail still due brings the loop
// round at once. A dead destination answers its jobs inside the claim,
// freeing their slots at once, so a loop that claimed while it found
// full batches would, under a stream of mail toward a dead primary,
// never reach the clients — no heartbeat, no takeover, for as long as
// the stream flowed.
//
// A stall (stallguard.go, GuardStall): a process that did not run for
// longer than a shadow server may wait before it takes its copies over
// (SIGSTOP, a long hang) has no start to ask its holders what they
// finished meanwhile, and every timer fires at once when it runs on —
// an overdue retry beside the holders' next probe. A tick of the guard
// (a quarter of that delay, a second at the most: two ticks, the floor
// that keeps a late tick from counting as a stall, stay under the delay,
// so a stall of the shortest takeover a holder can be set to — 1 s — is
// noticed; a floor of two one-second ticks let a 1–2 s stall pass) or a
// dispatch, whichever runs first, finds the
// monotonic clock moved on by more than that delay since the last check
// (the latest reading noted: a reading older than it — a check whose
// goroutine was descheduled under load between its reading and its
// check — is no moment the process ran later, and never takes it back;
// the WARN at most once a minute, counting the stalls since; the
// reading is the clock's with a suspend of the machine included,
// clock.Boottime, which the holders on other machines count and the
// monotonic clock leaves out; rrstall41 item 1),
// and starts the start's round (shadow.Holders.AskFirst, bounded by its
// caller: 3 s); until it returns claimDue claims nothing, pump starts
// no job and the loop waits for the round's kick (no pass for the mail
// that stays due). A stall while the round runs, or between its return
// and its end, makes its end start the next round, the attempts still
// held: the holders' answers may predate a takeover (rrstall41 item 1).
// A stall before its questions (the give-back's) does not: their answers
// postdate it (stallAsking); nor does the round's own time while the
// process runs, which the tick reads in quarters of the bound — else
// each round on a busy machine could start the next (rr2stall41 item 1).
// Before the round, every attempt none of whose jobs
// started — waiting for a window, handed on to a worker short of its
// start check (parked there), or waiting for the suspects' turn — is
// given back as a stop gives back an unstarted job (giveBackUnstarted:
// Ready, due at once, no attempt counted), so the round finds it Ready
// and applies what the holders finished; claimDue claims it again
// after. An attempt with a job past its start check is in its session:
// its waiting jobs start after the round with the recipients it began
// with — those without a destination too, and a job that reaches its
// check only while the round runs (after the give-back's 2 s bound) is
// held there until the round ended (startAfterRound) — and a session
// already running is not touched. A job parked at its check counts as
// umbra's code on its message until it left it, and only then lets the
// give-back look at its attempt; a suspect looks whether it is parked
// under the turn's lock, so a stall noticed as it looks still parks it. A stop (Drain,
// the context's end) is never held.
//
// Destination health (Health, health.go) is the scheduler's record of
// servers that did not answer a heartbeat or a session: delivery tries
// them last on every route until they answer (SR-16), except once per
// DeadCoolDown, when a marked server keeps its normal place for one
// ordering (Health.Last: a probe, as a dead destination gets one
// connection after its cool-down) — a primary whose taken-over copies
// all went on gets no more heartbeats, and would otherwise never be
// tried again while another server of its route answers. Manager.Destinations
// lists windows, running and waiting jobs, dead destinations and marked
// servers (`umbra queue list`, `umbra queue destinations`, metrics
// umbra_scheduler_*). Windows and dead marks are memory: after a restart
// every destination starts at InitialWindow; marks of failing primaries
// are rebuilt from the stored shadow state.
//
// Liveness. The invariant: every Ready message whose due time is ≤ now
// is claimed at the loop's next pass while the active set has room —
// then its jobs are in exactly one destination's queue each, in flight,
// or answered at once (held, dead destination, throttled) — and every
// Ready message due later waits for a reason whose end makes it due.
// The first half holds because every Ready message has its schedule
// entry at its NextAttempt (Tx.Put), the loop claims the schedule's due
// prefix, and every writer that makes mail due wakes it (Kick, or
// Store.Wake from outside the manager: submit, resume, retry, flush,
// redirect, takeover, a primary answering again, a drained destination,
// the end of an attempt; a timer at the next due time otherwise). The
// reasons to wait (a message claimed whose jobs wait for windows is
// answered at its delay notice and expiry all the same, waitdue.go):
// a retry step, never past the message's expiry nor its delay notice
// while owed (noLaterThanDue: an attempt is made then and its commit
// makes the notice, for the recipients it leaves pending — mail that
// attempt delivers gets none, as Postfix and sendmail warn only after a
// deferral; an attempt a job of which still runs noticeGrace (a minute)
// after the notice fell due (or after its first job started, if later)
// gets it then, committed beside the running
// job for the recipients still pending, and its end makes none
// (noticecommit.go) — a hung job holds the notice no longer, nor a
// finished sibling job's retry: the attempt retries that sibling's
// deferred recipients itself at their retry step while the hung job
// runs (siblingretry.go); the hung job is bounded by
// the expiry in a retry and in a first attempt whose notice went
// (expirycut.go; a first attempt of a message whose notice has not gone
// is never cut, so there by the
// outbound timeouts); a retry that would start at or after
// the expiry is not made, its recipients fail as expired: expiredNow); a
// throttle's recheck (ended early by
// the drain: wakeHeld); a hold — every pending recipient in a
// suspended queue, parked for holdRecheck, never past the expiry nor
// the delay notice while owed either (noLaterThanDue): the claim then
// finds the DSN due and commits no attempt instead of a hold, its
// recipients held where they wait (Held; a hold's reply, HeldReply, is
// the operator's here and keeps no host of an earlier attempt beside it
// as its own: the reply and host the next hop last gave are kept apart
// in the record, Recipient.HopReply and HopHost, record version 4,
// heldover.go — the DSNs, the expiry and the views quote that reply
// from that host and mention the hold beside it (dsnlast47: the hold in
// its place lost the sender and the operator the real cause); a
// recipient no hop answered has the hold alone, its DSN naming no
// Remote-MTA for it, nor for umbra's other notes:
// umbraNote — and for those others (a throttle, a dead mark carrying no
// reply, the stop: notTried) no Diagnostic-Code either, which carries a
// host's reply: the text part says why the recipient is not delivered
// — never "not attempted": an attempt the stop cut counts none
// (notAttempted) —, and a delay's Status while it waits for a slot is
// 4.4.5, umbra's congestion, not the note's 4.3.2 (rt30d F3,
// TestNeverAttemptedDSNSaysSo) — also for a recipient whose job waits
// in the attempt for a slot while a sibling's runs (a.started: the
// notice beside the running job; sched33,
// TestQ3DelayNoticeOfRecipientWaitingForSlotSaysCongestion), and for a
// taken-over copy's recipient whose mark carries the takeover's note
// (withRealReplies reports the bare mark, not the note's 4.4.0,
// TestQ3DelayDSNOfTakenOverCopyWaitingSaysWhy); nor a recipient no host
// has replied to yet (a delay notice beside its hung first attempt, its
// job started: "no host of DEST has replied yet", never an empty
// reason, Status 4.4.1 — no answer from host —, DEST the queue its job
// was planned for, a.entered, when the record names none yet; sched32
// — and one whose next hop answered the session's opening and then
// stopped answering in its transaction is said so, "HOST stopped
// answering during the envelope (MAIL, RCPT)" or "… during the message
// data: no reply for N s", or "… during the session's opening
// (greeting)" of a host that took the connection and did not answer a
// step of the opening, Status 4.4.2: InOpening, InEnvelope, InMessageData,
// datastall.go — on a retry too, over the attempt before's reply; N s
// and the views' since are from the host's last reply to MAIL, an
// RCPT or DATA (HostReplied, each pipelined reply as read, the 354 as
// read: smtp.Client.SetOnGoAhead), not the envelope's start; and
// one whose RCPT that host refused for now while the attempt goes on
// quotes the host's reply, one it refused for good is left out of the
// notice — not retried, its failure DSN quotes it: LeftTransaction; the
// operator's views show the same marks as they run: Stall,
// StateView.WaitingOn, QueueInfo.WaitingOn),
// nor an expiry whose last
// reply is none or umbra's own words on its attempt (the expiry's cut,
// no result from delivery): "not delivered: …" in words, never "last
// reply: " with nothing or a described reply no host gave (noHostReply,
// rt31d F1, F2) — and the operator reads the same words (ShownReply:
// message show, the tracking "fail" event; the record keeps the stored
// form, which the DSN parses; sched32); every commit of an attempt's results makes it the last
// reply of each pending recipient whose queue is suspended then —
// heldNow: a hold that came while the attempt ran wrote nothing on the
// message in delivery, and the attempt's later commit had left the
// host's reply for the DSN to quote), so the notice goes and the
// expiry fails them on time whatever the state of their queues, not at
// the resume. The expiry and a running delivery (expirycut.go): an
// attempt running at the expiry sends nothing more of the message — a
// session not yet at the body is closed, from its lookups on (MX,
// addresses, MTA-STS, TLSA) and its connection (its greeting, EHLO,
// STARTTLS, login, the XSHADOW of a shadow session), no session to a
// further host opens, a transaction not yet
// at the body ends before DATA or before the body —, but a body already begun
// is finished and what the next hop answers is committed as any; and
// no work for an expired message starts after its expiry — not a
// retry or a first attempt (expiredNow at the claim), and not a job of its attempt that waited in its destination's queue for a
// slot until past the expiry (expiredNow again at the job's start,
// runJob): that job makes no connection and the attempt's commit fails
// its recipients as expired, and a waiting message, tried or not, gets
// its delay notice on time (waitdue.go; rt32d F3: mail waiting behind
// sessions hung at a greeting got no notice, and at its expiry opened
// new sessions to the hung host). The one exception is a copy taken
// over from a primary none of whose pending recipients was tried here
// (takenOverUntried): its expiry counts from the first server's
// receipt, which may have passed while the primary held it, so it gets
// its first attempt here (TestTakenOverCopyPastExpiryGetsItsFirstAttempt),
// also when its job waits for a slot, and when its destination is dead
// or throttles it: those answers made no connection, so the dead mark
// and the throttle's note carry the takeover's note, with no next hop
// (deadWaitReply, throttledReply; takenOverUntried reads it through
// realReply), and the copy stays untried here at that answer's commit
// and at the next claim
// (TestTakenOverCopyMeetingDeadDestinationGetsItsFirstAttempt); so does
// a hold in a suspended queue and the stop's note on an attempt the stop
// cut (carryTakeover): the copy held is not failed at the hold's commit,
// a resume or a redirect leaves it the takeover's note, and after a
// restart its claim finds it untried
// (TestSR6TakenOverCopyHeldThenResumedGetsItsFirstAttempt,
// TestSR6TakenOverCopyStoppedThenRestartedGetsItsFirstAttempt) — tried meaning an attempt
// counted, or a host's reply (its next hop named host[addr]) kept from
// one that counted none (answered). Such a copy whose delay notice
// went is bound as any (it has a Will-Retry-Until to keep):
// expiryBinds is the one rule of the claim, a job's start, the waiting
// jobs' scan, the cut inside an attempt (expirycut.go) and the commit
// of an attempt that only waited for slots or that the stop cut
// (finish: such an attempt fails no recipient of a message never
// tried, whatever its other recipients did — rt31d F2), and with
// dueBy and expiredNow it takes the attempt's notice made beside a
// running job (a.noticed) as an argument, never as a copy of the
// record made to say it, so none of the three judges the attempt's
// message by another rule. A message the operator held out of
// delivery — quarantined, suspended by itself (message suspend), in
// the poison queue — does not age while held. The quarantine's release
// (once per message: Released) makes it as if just received in the
// commit that schedules it (releasedFromHold: Arrived now, no earlier
// arrival carried), so its expiry and delay notice count from the
// release and it is never failed as expired in the instant it was
// released (rt44 F1); a dumpster resubmit is a new message likewise.
// A message resume, which a loop of suspends can repeat, takes only the
// time held out of the age (resumedFromHold): the commit that held the
// message noted when, in the same transaction (bucket heldsince,
// heldage.go, written by Tx.Put on every way into either hold and
// deleted with the hold or the record), and the resume's commit carries
// the age the message had then (OrgEarlier, Arrived the resume), so a
// message resumed past its expiry is not failed in that instant either
// (an age that had reached the expiry keeps a tenth of it), and a loop
// of short holds no longer restarts the age each time (poison45 item 3:
// it made a message immortal). A crash leaves the hold and its note or
// neither; a hold of an older release (no note) is counted as age.
// Either release moves only the clock of the age, never the receipt:
// the commit that first moves Arrived keeps the receipt as it was in
// bucket received (received.go), and every reader that names when the
// message arrived — message show and list, --older-than, tracking, the
// delivery log's delay and latency, the DSN's Arrival-Date — reads
// that (ArrivedHere, OrgReceived): an operator's hold and release never
// changes when a message arrived (ops48 F1). A
// delay notice that went stays gone through either release: one notice
// per message. The commit that moves a message to the poison queue
// (Recover; poisonGiving after a panic) settles its shadow copy, as a
// suspend's does (settlePoisonCopy, settleHeldCopy;
// its body here reading whole, bodySoundHere: else the copy is the sound
// one and stays), so that no holder takes it over at the copy's expiry
// behind the operator's verdict; a crash leaves the message in flight
// with its copy (counted again at the next start) or poison with the
// discard owed. That commit stores CopyOnRelease as the record of the
// settle (poisonCopySettled): the message is then held as a suspended
// one is — no holder is named or asked for its copy (needsCopyMarked,
// copyKeeperTx: XQUERYKEPT's "missing" marked it rolled back), none is
// made again while it is held — and its resume marks it for a new copy
// (markReleasedSingle, HowHeld) without settling it twice. A poison message's shadow copy still held (poisoned by
// an earlier release, or with a body unreadable then) is taken over by
// its holder by the copy's own receipt time: so its resume writes, in
// the same commit, the discard
// of that copy (settleHeldCopy) and marks the message held by this
// server only (markReleasedSingle, HowHeld), as a suspend and its
// resume do (not when its body here is unreadable: the copy is the
// sound one, bodySoundHere, and the resume's attempt gives the message
// to its holder), and the copy is made again with the age the resume
// left the message (its carried arrival, OrgArrived) — a
// crash leaves the message poison with its copy, or resumed with the
// discard owed and the mark; no holder keeps a copy whose expiry
// disagrees with the message's. Not a part of a split message whose
// copy another record here still needs (sharedCopyKept, heldage.go; "One
// copy, several records"): its hold writes no full discard but the
// partial discard of its own pending recipients (settleHeldPart,
// siblingcopy.go; none another record under the copy has pending), in
// the hold's commit — a crash leaves the part unheld with its share of
// the copy, or held with its share settled and CopyOnRelease stored, so
// that its release marks it held by this server only (HowHeld) and its
// copy is made again, as a whole message's release does; the holder
// keeps the copy for the other records with its own receipt time, and so the
// resume (and the quarantine's release) keeps the part's age whole, the
// hold counted — the part expires with the copy it shares, never after
// the holder's takeover of it at message_expiration and
// shadowExpiryGrace (split47: the part outlived its copy, which the
// holder took over and delivered while this server retried it). The
// commit that resumes reads the siblings in its own transaction, so a
// crash leaves the part held, or resumed with the age that commit gave
// it. A copy made again (markReleasedSingle) that reaches a holder
// still keeping the copy under the same org id — its discard withdrawn
// unfetched by the push (RecopyPushing) — is joined to the copy kept
// there, which takes the later age the push carries in the push's
// commit (renewReceiptCopyAge, receiptcopy.go; a relayed copy the push
// is folded into likewise, foldIntoRelayed — also a relayed record with
// mail of its own still to deliver, which the expiry pass takes over by
// the same Arrived once that mail is done: its Arrived moves, its
// OrgEarlier by as much, so its own mail keeps its age, renewCopyAge):
// a crash before it leaves the push unanswered, made again by the next
// pass. Mail of a suspended queue keeps its age. A hold's record lists each
// recipient in the queue that holds it (a taken-over copy too: it
// leaves its shadow queue for the suspended one; a copy an earlier
// release parked in its shadow queue is made due by Recover:
// releaseShadowHolds), so the resume's commits, which make due every
// Ready message of the queue selected when it began (in batches,
// queuebatch.go: the first lifts the suspension; one cut short leaves
// the rest to their hold's recheck, at most holdRecheck, or the next
// resume), find it; and the commit that parks a
// message on a hold reads the suspension in its own transaction
// (Tx.anyResumed): an attempt that saw the queue suspended and commits
// after the resume (which skipped the message, in delivery then) makes
// it due at once instead of parking it for the hour — as it does when
// it applies a takeover kept aside while the message was in delivery
// (recipients pending again, never attempted here). SuspendQueue and
// ResumeQueue change the stored mark and the one in memory (what
// attempts ask) under one lock, so the two never disagree for longer
// than one of them (a resume: than its first commit).
// A suspension sets its mark in memory and takes the queue's waiting
// jobs out (withdraw.go) in one step under the scheduler's lock, which
// every job's start takes: no job of the queue starts between the two
// (a window freed then started a waiting job in the queue just
// suspended: TestSuspendQueueRacesAStart).
//
// Backoff: the n-th scheduled failed attempt waits RetrySchedule[n-1]
// (the last step repeating), with jitter. An operator's queue retry or
// redirect, a message retry or resume, and a flush set ManualRetry on
// the record: that attempt does not count — also when it is the
// message's first real one (mail deferred by a dead destination at
// receipt) — and after it fails the message waits the step it was on,
// never past the time it was due before the operator's action (the
// next attempt it replaced, kept in memory by keepRetryNext until that
// attempt ends or the record is deleted, Store.forgetDeleted; a queue
// resume keeps none for a message whose next attempt was a hold's
// recheck).
//
// # Shadow redundancy in the store
//
// As primary: a message received in a shadow session carries its shadow
// server and shadow id; the commit that makes it done (removal, or the
// Shadow state when it was itself relayed in a shadow session) also
// writes the discard notification for that server (bucket discards). The
// notification is deleted only after the reply carrying it was written,
// so a crash in between sends it twice — harmless, a shadow server
// ignores ids it no longer has — never zero times. After that commit
// returned, DiscardSignal wakes the shadow server's sessions waiting in
// XQUERYDISCARD WAIT= (a signal, not state: a waiter that misses it
// still finds the notification when it looks) — after every commit that
// writes a notification owed to a server, whichever path wrote it: the
// writers of the owed buckets name the server in the transaction and
// the commit wakes it (owedsignal.go; rt44 shadowrcpt3 F1).
//
// Notifications are filed under the name the record gives its shadow
// server, and owed to the database that name was met with
// (holdernames.go): a server asking under its own name also gets what is
// filed under the names that are aliases of its recorded database id (a
// typo in the topology), read in the same transaction; nothing is moved,
// so a crash changes nothing of it. A wait under one name is woken by a
// notification filed under an alias of its database too (noteOwed).
//
// One copy, several records (siblingcopy.go): the shadow id names the
// message and this server (the relay's "<id>-<hash of the primary>" from
// a shadow server below version 8, or the org id of a copy on receipt;
// a version-8 shadow server names each transaction apart, copyid.go, but
// for a taken-over copy it sends back), not this server's record, and this
// server keeps a record per transaction — so two records can name one
// (shadow server, id): recipients the shadow server relayed in a later
// attempt (deferred at RCPT the first time), two destinations of one
// attempt served by this server, a message relayed here again. The
// shadow server applies a discard to every recipient shadowed under the
// id. So every commit that would write the discard — the end of
// delivery, a hold, a removal, a quarantine, settleIdle, a merge into a
// held original, a DSN carrying it, a copy made again — writes it only
// when no other record under the same org id names that (server, id)
// with a recipient pending and not held or quarantined (XQUERYHELD's
// rule, save that a quarantined record, whose quarantine settles its
// copy, does not count): the last of them writes it. A record stored
// under an id whose discard is written and not fetched yet withdraws it
// in its commit. The copy of a finished record then stays until its
// sibling's end — a duplicate at worst, never a loss. Within one record
// the discard settles the whole copy, so it is written when the record's
// last recipient is finished; the recipients finished before are named
// by partial discards (below). What this costs:
// a record held or quarantined here keeps its copy at the shadow server
// while a sibling needs it (a takeover in that time delivers it); a
// failure DSN carries no discard while a sibling needs the copy (the
// sibling's end settles it, and the DSN then lives here only). A
// failure DSN that took the discard before a later record under the id
// was stored has an org id of its own; its end finds the later record
// of a copy on receipt through the id, which is the message's org id
// (copyNeededElsewhere), and a relay's cannot share the id when its
// shadow server speaks version 8 (one id per transaction, "One writer
// per message"). Not covered: that DSN for the relay of a shadow server
// below version 8 — nothing here links the DSN to the records under the
// relay's id, so its end writes the discard and settles the later
// record's copy early; likewise a discard fetched before the later
// record was stored reaches such a shadow server anyway (its side of
// that race is in "One writer per message"). A part held or quarantined
// while a sibling needs the copy keeps its age through its release
// (sharedCopyKept): the copy it shares is taken over by its holder at
// the copy's own expiry, and a part that outlived it was delivered twice.
// A part removed (an operator's removal, the quarantine's delete or
// expiry) while a sibling needs the copy writes, in the removal's
// commit, the partial discard of the recipients it took
// (settleRemovedPart, below), those its failure DSN reports once the DSN
// left: a takeover of the shared copy delivered mail the operator
// removed.
//
// Partial discards (partialdiscard.go; shadow verb version 9). The
// commit of an attempt's results (or of a job's, ended while others of
// the attempt run: jobcommit.go) that finishes some recipients of a
// record with a shadow copy elsewhere — pending as the attempt began,
// now delivered, relayed, shadowed at a next hop or failed — and does
// not write the full discard (recipients still pending; a sibling still
// needs the copy; a failure DSN carries the full discard) writes, in the
// same commit, one entry per finished address in bucket partialdiscards
// (server, copy id, address). Left out: a group expanded here while
// its members are pending (the copy names the group, not its members:
// the commit that leaves none of them pending names the group —
// groupsSettled, expand.go —, and so do an operator's removal or hold
// of a part, settleRemovedPart and settleHeldPart; a group one of whose
// members a failure DSN still here reports — this commit's or an
// earlier one's — is named by the last of those DSNs to leave instead,
// once no member is pending: each such DSN's note lists the group, and
// neither a commit nor a DSN's departure names it while another such
// DSN is here, groupReported; else by the full discard), a recipient a failure DSN
// of that commit reports (the DSN exists only here until it leaves; the
// copy covers it, as the full discard a failure DSN carries: that commit
// notes the copy and the addresses under the DSN's id in bucket
// dsnreported, and the commit that sees the DSN leave — delivered,
// relayed, handed on — writes their partial discard, while a record
// here still needs the copy, as does the commit that names the DSN's
// own shadow server (its copy confirmed: the DSN is on two disks, its
// holder sends it if this server is lost, and the original's holder
// must not fail them again: dsnheld.go); a DSN that fails, expires or
// is removed before either drops its note with its record, and the
// copy keeps covering them: reportedcopy.go; a recipient a success DSN reports is named at once,
// as the full discard is written at once beside a success DSN), and an
// address
// another record under the same (server, id) has pending and not held
// or quarantined (pendingUnderCopy: the last to finish it names it; a
// record stored later under an id withdraws the unfetched entries of
// the addresses it has pending with the full discard). Addresses, not
// indexes: a copy made again holds only the pending recipients. The
// full discard, written in a later commit, deletes the copy's partial
// entries in that commit (it settles all). They are sent only to a
// query that asked (XQUERYDISCARD … PARTIAL, version 9), after the full
// ones, and deleted like them only once the peer's next command proved
// it has them; unfetched, they go with message_expiration (PruneDiscards)
// or with the full discard, so an older shadow server costs a bucket of
// entries bounded by the records pending. Durability, as primary: before
// the results commit nothing is written and the shadow server's copy
// keeps every recipient; after it the entries are on disk and are sent
// until acknowledged. A kill -9 between the results commit and the
// shadow server's fetch, for good (the database lost with it), leaves
// the copy with every recipient — the duplicate of before for the
// finished ones, never a recipient lost; with the database back, the
// entries are sent at the next query. The removal of a record whose copy a
// sibling still needs (no full discard) writes them too, in its commit,
// for the recipients it took (settleRemovedPart, siblingcopy.go), by the
// same rules: none another record has pending, and those its failure
// DSN reports noted under the DSN (dsnreported), named when it leaves.
//
// Delay notes (delaynote.go; shadow verb version 17). The commit that
// makes a message's delay notice here (an attempt's results, or the
// notice's own while a job of the attempt hangs: noticecommit.go), for
// a record with a copy elsewhere, writes in the same commit a delay note for that copy:
// an entry in partialdiscards under the copy's key with an empty
// address, sent as "<id> DELAYED" only to a query that asked (… PARTIAL
// TAKEOVER DELAYED), otherwise fetched, forgotten, superseded and pruned
// as the partial discards are. The shadow server marks the copy's
// records DelayNotified in the commit of the batch, so a takeover sends
// no second notice. One in delivery there (taken over, its attempt
// running) is marked as stored and on its attempt (attempt.noticed, in
// the note's transaction), so the attempt's job commits and end, which
// write the record they began with, keep the mark. A note that comes
// between the claim (the record Active) and the attempt's registration
// in inDelivery finds no attempt: start reads the stored mark once
// after registering (scheduler.go), in a write transaction rolled back
// (Store.ViewSettled: ordered after every writer, no fsync), so any
// note is seen by one of the two — a plain read could begin before a
// note that had looked the attempt up first committed, and miss it. A note after the attempt's end read its mark is kept by every
// writer of its end: the commit of results (finish) and the writers
// leaving delivery without results (putLeavingTook: requeue, poison,
// the give-back, Recover) keep a mark the stored record has; the
// commit of results that was to make the notice itself reads the
// stored mark in its transaction and, finding it, makes none. A crash
// before its end leaves the stored record marked (Recover makes it
// Ready, DelayNotified). A crash before the commit leaves neither the notice
// nor the note; after it, the note is sent until acknowledged. A stop hands the notes to a
// shadow server of version 19 with the partial discards (XDISCARD
// "<id> DELAYED", DiscardsPartialDelayed), forgotten as they are once
// that server answered after its commit.
//
// Copies removed by an operator (droppedcopy.go; shadow verb version
// 12). A forced removal of a shadow copy writes, in its commit, an
// entry in bucket dropped (lower-case primary ‖ 0x00 ‖ copy id →
// removed-at) for each primary and copy id of its shadowed recipients;
// the primary asks for them in its holder probe (XQUERYDROPPED), marks
// the messages whose copy they were held by it only (singlecopy, as for
// a holder's lost database), and the entries go once it spoke again.
// Entries older than message_expiration plus shadowExpiryGrace (no
// message they could name is left at the primary) are dropped by the
// next commit that writes one.
//
// Copies missing on a holder whose database file was rolled back
// (keptcopy.go; shadow verb version 23). A holder's queue.db copied back
// from an older file keeps its id and presents no mark of its own, so
// neither SR-7 nor the rollback marks see the copies it lost. The
// primary's holder probe asks it (XQUERYKEPT) which of the copy ids its
// pending records name there it has no record of; the commit that reads
// an answer writes, per missing id not noted, an entry in bucket
// keptmissing (holder ‖ 0x00 ‖ copy id → first missing), deletes the
// entries of ids answered kept, and, for an id noted at least a probe
// interval (and the copier's 10 s) before, marks its messages held by
// this server only (singlecopy, how "rolled back") and deletes the entry.
// The holder writes nothing. Two answers, not one: a copy on its way
// (made again, or a relayed message's, committed there after this
// server's record names it) is bounded by the copier's try. The first
// missing times follow a step of the wall clock (followClockStepKept),
// so that the two answers are apart in real time. On the holder a copy
// taken over and handed on to another server, its takenhanded note
// waiting for that server's discard, is kept: accounted for, not lost.
//
// Messages given to their copy's holder (handback.go; shadow verb
// version 11). The commit that holds a message as poison for a body
// found unreadable here (before its attempt, cut during it, or at start)
// writes, when the message names a copy elsewhere not known lost and no
// other record here names that copy, an entry in bucket handback
// (holder, copy id → message id); it is sent after the partial
// discards, "<id> TAKEOVER", to a query that asked (… PARTIAL TAKEOVER),
// and only while the record is still poison under that copy. The holder
// takes that copy over in the commit applying the batch (never given
// back); the primary, once the holder's next command proved its commit,
// deletes the entry and the poison record in one commit. A crash of
// either side before that leaves both records: the line is sent again
// and the holder's takeover of a copy already taken over changes
// nothing. An operator's removal without force of a message whose body
// is unreadable while such a copy exists is refused (it would discard
// the sound copy too). The entry is marked offered in a commit before
// its line is written (a View first, so a query with nothing to give
// commits nothing); from then on the holder may hold the message taken
// over whether or not it acknowledges, and the operator's resume of the
// poison record is refused until the acknowledgement removes it — a
// resume in that window, with the body readable again, would deliver it
// here too (poison11's leftover). A crash after the offer keeps the mark:
// the line is sent again and the resume stays refused.
//
// As shadow server, a partial discard is applied in the same commit as
// the full ones of its batch (ShadowContact, ShadowPresented: committed
// before the session's next command, so the primary forgets it only
// then): a recipient of the copies held for that primary under that id,
// with that address, shadowed or taken over and still pending
// (discardSettles), is Relayed; a copy with nothing left goes as after a
// full discard, another keeps its record and body. A copy not held for
// that primary — another primary's — is left alone (W-4); a copy on
// receipt not stored here yet (named by an org id no record holds) gets
// it kept in bucket early under "<id> 0x00 <address>", and the commit
// that stores the copy leaves those recipients out (keepCopyTx,
// takeEarlyPartials; none left: not stored; rt55 F2) — unless that
// copy's rollback mark is above the one the discard was made under (the
// mark presented with it, DiscardMark; never the one stored when it is
// committed here, which another session's copy may have raised: a copy
// of the same org id committed between the two would be lost,
// earlymark40): a copy committed there after it, which the stale
// discard must not settle (earlystale.go); and
// one in delivery here gets it as an early discard under
// "<id> 0x00 <address>" in bucket early, taken by its results commit
// (applyEarlyDiscards) or dropped as spent with the full ones — also
// when the attempt is making that copy, whose id no recipient names
// until the commit (TestSR3PartialDiscardDuringAttemptSettlesCopyItMakes;
// one that names no copy of the record goes with the early discards'
// age), except where a recipient with that address is taken over
// under the primary's old database with that id (settlesNot). A restart
// of this server keeps what was applied (it is in the copy's record);
// a crash before that commit leaves the entry at the primary, sent
// again. A recipient taken over and handed on already is not touched:
// nothing is undone and nothing sent twice because of it.
//
// An operator's hold (SuspendMessage) writes the discard too, in the
// commit that suspends the message (hold.go): a held message must not be
// taken over and delivered by its shadow server while it is held here,
// so from the hold on it lives on this server only. The record keeps
// its ShadowServer and ShadowID (a takeover resubmission still merges
// into it, and its sender's copy is then discarded at once: mergeHeld),
// and XQUERYHELD answers "done" for a suspended message. A suspended
// queue, a redirect and the poison queue keep the copy (hold.go says
// why).
//
// DSNs and shadow copies: when the commit that makes a message done also
// creates a failure DSN, the discard is not written then: the DSN is a
// new message that exists only on this server, and until it has left, the
// shadow copy is the only other trace of the failure. The DSN carries the
// original's shadow server and shadow id instead, and the commit that
// makes the DSN done writes the discard. If this server dies before, the
// shadow server takes its copy over and the failure (and its DSN) happens
// again there; if this server returns with its database, the shadow
// server's taken-done notes naming every recipient the DSN reports drop
// the DSN in one commit with the discard it carried (takendone.go,
// droppableDSN; rt22a M1), so the sender is told once. A success DSN alone carries no discard (rt36 F3: holding
// the copy until the notice left let a takeover send the whole message
// again to every recipient, for as long as the return path deferred):
// the commit writes the discard and marks the DSN held by this server
// only (holders.go), so the views count it and the re-make pass pushes
// its copy like any single-copy message's. A crash after that commit
// loses nothing: the mark is in it; a lost disk before the DSN's copy
// is made loses that success notice, no message. Every other DSN of a
// message that had a copy (or was marked held here only) is marked so
// in the commit that makes it: a success or delay DSN beside the failure
// DSN that carries the discard, and any DSN made while other recipients
// were still pending. A failure DSN made so — by an earlier attempt, or
// by a job's own commit (jobcommit.go) — is covered by the shadow copy
// while those recipients are pending, and when the commit that makes the
// message done finds it still here (its dsnreported entry,
// reportedcopy.go) it makes that DSN carry the discard instead of
// writing it, in the same transaction: the DSN names the copy, its
// dsnreported entry and its mark go, and its end writes the discard
// (earlydsn.go; a DSN in delivery then has its attempt's commit take
// the copy its stored record names as its own — its end writes the
// discard, a copy of it made again with the headers only carries it on,
// a poisoned or requeued write keeps it). A commit outside an attempt
// that settles the last pending recipient (copySettled: a returning
// primary's discards, a quarantine, a give-back) makes such a DSN carry
// the discard the same way, the recipients it settled getting their
// partial discard at once. A kill -9 before
// that commit repeats the attempt with the DSN as it was; after it, the
// copy covers the DSN until it has left, and a returning server's DSN
// is dropped by the taken-done notes as any carrying DSN is. Not when
// the DSN may have a copy of its own (pushed, or a push in flight):
// then the discard is written at once, as before, and a push that
// confirms after the DSN came to carry the discard is discarded
// (ShadowRecopiedOrg). Nor when the message is marked held by this
// server only at its end (results.go, copySettled): the copy its record
// names was lost with its holder's database, or settled by a hold whose
// release marked it (its discard owed since, and written again when the
// mark goes) — it covers nothing, so no DSN of it carries the discard:
// the discard is written at once, and its DSNs, early or made by that
// commit, stay or are marked held by this server only, copied by the
// re-make pass (a DSN carrying a copy settled already was on this disk
// alone, marked nowhere). Save a message whose copy was made again
// while its last attempt ran (the mark names its holder, heldPrefix):
// that copy is durable at its holder, so the attempt's commit names it
// as nameCopyHolder would, the failure DSN carries its discard (on
// that holder under the org id), the copy the record named gets its
// own, and the mark goes — one commit: a crash before it leaves the
// mark with the holder (the attempt's results lost), after it the DSN
// owes the discard as any carrying DSN does. A message whose last
// recipient is settled otherwise before the marks are listed (a
// primary's discard, full or partial: copySettled) names that holder the
// same way, so that a failure DSN still here carries its discard
// (earlydsn.go). An operator's removal with
// NDR writes the discard at once (so that the shadow cannot resurrect a
// message the operator removed) and marks its DSN the same way.
//
// Success DSNs follow RFC 3461 relay semantics: a recipient relayed to a
// next hop that took the DSN parameters (Result.DSNPassed) gets none
// here; one relayed without them gets "Action: relayed" (dsnrelay.go).
//
// Group expansion (expand.go): an Expanded result marks the group
// recipient done (Relayed, no DSN of its own) and appends its members as
// Pending recipients in the same commit (ORCPT naming the group: its
// own, or its address typed rfc822, or utf-8 when not ASCII; its
// NOTIFY, no address twice, at most maxRecipients), and the message is
// due at once; a crash before the commit leaves the group pending, so it
// is expanded again, never lost.
//
// As shadow server: recipients a primary accepted in a shadow session
// are Shadowed (with primary, address and shadow id) and the message
// keeps its record and body until every primary discarded its part.
// What this server knows of each primary — address, database id, last
// contact, start of the last failed heartbeat, consecutive failures,
// taken over — is a record in bucket shadowpeers (SR-13, shadowstate.go),
// written in the same commits as the copies: the commit that makes a copy
// Shadowed records the database id it was made against; a contact
// (ShadowContact) compares the presented id with the stored one and, in
// the same commit, takes every copy over when it differs (SR-7, whichever
// side restarted) — and starts the record afresh for the new id, its
// failures, takeover and last contact being the old database's
// (newDatabaseTx; a push presenting it does the same) — or applies the
// discards; the digest of a database id
// a refusing primary advertised (ShadowPresentedDigest) takes every copy
// over in one commit when it is not the stored id's (and reports whether
// it is: only then is the refusal the primary's), and writes nothing
// else (the stored id stays until a push or contact brings the new one;
// a crash before that commit leaves the copies to the next refusal); a failed heartbeat
// (ShadowHeartbeatFailed) is counted and, at the retry count, takes the
// copies over in the same commit — unless the primary completed a session
// with this server after the heartbeat began, or answered XSHADOW with
// the stored database id on any session since (answered.go: memory only,
// and a crash ends every heartbeat in flight), when that commit counts
// nothing and takes nothing over; nor does it take over less than
// timeout × retries after the last contact of any kind (answered.go; the
// manager's start after a restart): that failure is counted, and the next
// one past the bound takes the copies over (ErrTakeoverDeferred). Such a
// reply leaves the SR-5 timer (LastContact) as it is; it forgets the
// failures counted (alive.go). A copy committed against an id other
// than the stored one (the primary was replaced while the attempt ran) is
// taken back by that commit.
// A database id met as one primary's stays that primary's (bucket
// peerdbs, peerdb.go: id ‖ primary → address, written by PutPeer in the
// commit writing the record; an id met as a shadow server's of messages
// held here is kept the same way, by ShadowHolderSeen in the commit
// recording it): another server presenting it — at
// XSHADOW, on a copy on receipt, in a contact, or as the next hop of a
// relay whose copy is committed here — is refused, or not recorded, by
// the one check (databaseOfAnotherTx, a seek to the id), also after the
// primary's record went with its last copy, and after that primary
// presented a new id (its old database gone with its disk: the old id is
// retired, not released — rt18d-F1; the primary presenting it again, its
// database put back from a copy, is its own). The entry goes when
// the operator forgets the id (ForgetDatabaseID) while no record holds
// it — a retired id or one whose record went —, when a shadow server's
// id recorded under a name that is no server of the topology any more
// (a typo since fixed) is presented by the server of the topology that
// states that name as its own, the old name has no primary record, and
// the id was recorded under the old name from a server that stated the
// new name (bucket holderstated: the NAME a server dialled here gave in
// its XSHADOW reply; a session of its own here states none — also read
// at the start by package delivery, ShadowHoldersStated: the name a
// holder's refused sessions are kept under, linked to the name it is
// dialled by, so the discards owed to it are handed over after a
// restart too), so a
// server briefly out of the topology keeps its id
// (ShadowHolderSeenStated: the old name's holder record and index entry
// go, its name becomes an alias of the id, and the id is recorded under
// the new name, all in one commit — a crash leaves the id the old
// name's or the new name's, never neither's), and when its server has
// more than RetiredDatabaseIDsKept (32) ids no record holds: the commit
// that writes the record retiring one more (PutPeer, ShadowHolderSeen),
// or removes the record holding one (DeletePeer), also forgets the
// oldest of them (retiredbound.go; bucket peerdborder
// keeps the order first met), logged at WARN after that commit. One
// transaction: a crash leaves either the old record and every id, or
// the new record with the oldest retired id gone — never an id forgotten
// while a record still holds it, which the bound skips. The relay path judges a
// next hop kept under a send connector's host name, first met now, by
// the address its copy went to (databaseOfAnotherAtTx): the id of the
// server at that address is its own. Open adds the
// entries a release without the index did not write, never removes one.
// A record follows its primary's server across a topology change
// (SetServers, followservers.go): a record under a server's name, or
// (on a reload) under a connector's host name whose address was that
// server's, is moved to the server's new address in one commit; a
// crash before it leaves the old address, moved again at the next start
// for records under a server's name. A primary is listed for heartbeats while its
// shadow queue holds any message, taken over or not, or a copy taken over
// from it waits anywhere else here (SR-16; one seek each: the queue index
// and the index of taken-over copies, below).
// Takeover turns the shadowed recipients back to Pending; they stay
// listed in the primary's shadow queue (shadow:PRIMARY, now pending)
// until an attempt hands them on (SR-6), and are made due at once when
// the primary answers again — unless they go back to it (takenindex.go):
// copies taken over for failed heartbeats record, in the takeover's
// commit, the database id the primary had (in the index of taken-over
// copies, or beside a takeover kept aside in earlytakeover); any session
// presenting that same id — a contact, an XSHADOW reply alone
// (ShadowPresented: a relay of another message, a watch session), or the
// primary's own XSHADOW … DB= in a session it opened here
// (ShadowPrimaryPresentedHere; another id there changes nothing) — makes
// every such copy still waiting — not
// Active, not handed on, not of a quarantined message, not of a poison
// message with other recipients pending — Shadowed again under its
// primary (its address from the primary's record), in the commit that
// resets the failures, and (a contact) drops the takeovers kept aside for
// messages in delivery. The copy in delivery whose own attempt is the
// session meeting the primary is given back by that attempt, unsent
// (givebackrelay.go: GivenBack, decided from the index entry its claim
// read, which nothing changes while it is in delivery, and committed
// with the attempt's results; rt16a F1). The primary still holds the original (it was only cut off
// or stopped): its discard or its XQUERYHELD answer settles the copy as
// any held one, and a later failure takes it over again. The give-back
// makes the primary urgent (markUrgent, as a hand-off does), so a watch
// session fetches that discard as the primary commits it, not the next
// heartbeat (finalshadow40: a kill -9 of the primary after it delivered
// took the copy over again, a second delivery). A contact with
// another id (SR-7) or its digest, a push presenting another id,
// an expired copy, a rollback mark, a copy the primary
// gave here and one whose database changed during its attempt record
// the id too, marked never given back (takenindex.go: every takeover
// names the database its copies were taken over under, for shadow list
// and delivery's originLostIt): such copies are never given back. The
// id alone is not the database's state: a primary put back from an
// older file of the same database (a file copy, a snapshot) presents
// the same id without the originals of the copies taken over after
// that file. Its rollback mark (ShadowMarkSeen, recorded before the
// rest of the session is saved) makes, in the rollback's commit, every
// copy taken over from it that may be given back with that id — under
// its own name and every record its presentation speaks for
// (primariesOf: a send connector's host name reaching it), and every
// takeover kept aside for its messages in delivery — never given
// back (keepTakenOverTx): the rollback wins over every later give-back
// of that id, a contact's, a relay XSHADOW's, and the attempt that
// decided from its claim's reading, whose commit reads the entry again
// (mayGiveBackCopy) and keeps the copy taken over. A copy Active at the contact stays taken over; its
// attempt may hand it on beside the original (README, window 1).
// A taken-over recipient keeps the primary
// and shadow id of its copy until it is handed on, so the primary's
// discard for the copy — it came back and finished the original —
// settles it whatever holds it here (its retry time, an operator's
// hold of the message, its route's suspended queue, a redirect, an
// attempt in progress: the attempt's commit applies it, as for a
// shadowed one): only a copy already handed on (or in delivery when the
// primary answers again) is sent twice. An attempt whose route's queue the
// operator suspended hands them on to that queue, held there like any
// mail of it (see "Liveness"). One deferred on its route stays listed
// in the shadow queue (the primary stays watched; the route is not
// stored): an operator's retry, resume or redirect of the route's queue
// reaches it by asking the deliverer for the route now (RouteNamer,
// takenOverOn in admin.go). A shadow copy the primary never confirmed
// within message_expiration is taken over and routed; the attempt's commit
// bounces it with a DSN when no route takes it — never a silent deletion.
// Except the copies of a primary the shadow view says answers and
// refuses this server with their database (SetExpiryKeeper, asked
// before the pass's transaction, never inside it): that primary owns
// the message's expiry, so they are kept, WARNed per primary at each
// pass, until it lets this server in or its failed heartbeats take them
// over (shadow31 S3); a primary that disowned this server is not kept.
// A crash at any point leaves either the copy (and a later discard or
// takeover) or its deletion: never a lost message, at worst a
// duplicate, which final delivery suppresses (SR-11).
// Stale discards and early discards are pruned after message_expiration;
// the hourly pruning of discards, duplicate records and submission keys
// runs batch after batch (one transaction each) until none expired is
// left (retention.go), so their number is bounded by what an expiry
// window makes, whatever the rate.
//
// Shadow on receipt (SR-17, receiptcopy.go): a copy pushed by the server
// that received the message (its primary) is stored by SubmitShadowCopy
// (a batch of copies from one primary: SubmitShadowCopies, all of them
// in one commit, the record written once; a copy that cannot be kept is
// refused alone before the commit, a failed commit keeps none)
// in one commit with the primary's shadowpeers record (address from the
// topology, the database id the copy presents; a different stored id
// takes the old database's copies over in that commit, SR-7): state
// Shadow, every recipient Shadowed at the primary, the shadow id being
// the org id. From then on it is a shadow copy like any other. A copy
// pushed again with an org id already kept for that primary adds the
// recipients the kept copy lacks to it (a second record of the primary's
// with that org id: the message relayed to it again); one carrying none
// is a repeat after a lost reply. A discard
// whose id is not "<local id>-…" is looked up by org id (orgids index);
// one that arrives before its copy is kept in bucket early, and the copy
// is then not stored (a partial one: stored without those recipients).
// One that settled a copy held here, presented with a mark, is kept there
// too (rememberAppliedDiscard, earlystale.go): a repeat of that copy's
// push still on its way (its reply cut, tried again) comes after the
// primary's one discard was consumed, and kept it would be a copy the
// primary owes nothing — delivered twice if the primary is lost; a copy
// committed after the discard (a higher mark) is new and kept. On the primary, the one commit of Submit carries
// ShadowServer and ShadowID (the org id) like a message received in a
// shadow session, so the commit that finishes the message writes the
// discard; a copy that never arrived gets a discard its peer ignores
// (Message.CopiedOnReceipt tells the two apart: the shadow id is the org
// id; delivery then does not take the shadow server for the message's
// origin). A push is not a contact (it brings no discards: the last
// contact stays — but for a primary first seen, or one pushing under a
// new database id, whose record starts at the push: newDatabaseTx), but the same commit forgets the failed heartbeats
// counted against the primary (Failures; a takeover done stays marked)
// and makes the next heartbeat due a timeout after the push (LastTry),
// since a primary that pushes is alive — the next failure then cannot
// take the new copy over at once, and the takeover comes no earlier than
// timeout × retries after the push. An XSHADOW reply with the stored id
// (ShadowPresented) and a session of the primary's completed here
// (ShadowAnswered) do the same in a commit of their own when failures
// are counted (alive.go); a copy pushed twice is kept once, and a relayed copy of the message never merges
// into a copy on receipt (mergeHeld): the primary's discard would take
// both. A push of a message this server relayed to that primary in a
// shadow session and still holds the copy of (a server restored from a
// backup taken after the relay: the primary saw its new database id and
// made the old database's copies again) is kept as that one copy
// (foldIntoRelayed): in the push's commit the relayed record's
// recipients shadowed at the primary are filed under the org id and the
// pushed recipients it lacks are added; nothing is stored apart. Its
// discard then comes under either id — the org id, or the relay's
// shadow id from a primary that lost the commit recording the push —
// and settles the one record (applyDiscardsTx), so only one copy can be
// taken over and delivered. A relay's id settles the recipients filed
// under the org id only while they are shadowed: one taken over and
// pending may be a copy on receipt's, which a relay's discard (for
// another record there) must not settle; a folded one taken over before
// the relay's discard came is delivered here as well, a duplicate after
// a takeover. The fold remembers, per recipient, the relay id it was
// filed under (bucket foldedrelay: primary ‖ org id ‖ address, the
// local part as written (rcptKey: "A@" and "a@" of a relayed domain are
// two) → relay id, written in the fold's commit, deleted by the discard
// that settles it; an earlier release's entry, keyed by the folded or
// lower-cased address, is read and deleted for a record that spells the
// address one way only; receiptcopy.go), so a relay's discard settles of the recipients
// filed under the org id only those of its own transaction: the discard
// of a relay's record the primary finished before pushing it again no
// longer settles the recipients of a record whose push was committed (a
// restore of this server, and a message relayed in two transactions:
// queue11's sequence; before, that record lived on the primary alone).
// A recipient with no entry (folded by an earlier release) keeps the
// earlier rule. Still open: the org id's discard (or XQUERYHELD's answer
// for it) settles every recipient filed under it, the ones folded from a
// relay record the primary still holds under that relay id included,
// when that record's own push has not come yet.
//
// # One writer per message
//
// A message in delivery (Active) is written only by its attempt: the
// commit that ends it (finish, or requeue, hold, poison), and before it
// the commits of its jobs that end while others run (jobcommit.go: the
// in-memory copy with the recipients they finished done, still Active;
// ordered before the end by the attempt's lock, and none after it).
// These write the attempt's in-memory copy, so any other writer's change
// to the stored record would be lost. The one exception is an attempt no job of which
// has started — claimed, every job waiting for a slot of its
// destination's window: an operator's command takes it out of the
// scheduler's queues under the scheduler's lock first (withdraw.go), so
// no job of it can start and no commit of its own follows, and then
// writes the record in its own commit as a Ready message's; a crash
// before that commit leaves it Active, as any claimed message (3 below),
// and a failed commit puts its jobs back in their queues. The other transitions of a message therefore do
// not rewrite an Active record: a discard is kept in bucket early, a
// takeover in bucket earlytakeover, and the commit that ends the attempt
// applies them (TakeEarlyDiscard, applyEarlyTakeovers) before it writes
// the record; a quarantine of the same org id that holds a recipient
// the record keeps a copy of (shadowed, or taken over and still
// pending) needs nothing kept aside — that
// commit reads the quarantined record and settles the copy first
// (settleForQuarantine), and until then the quarantine cannot be
// released, deleted or expired (ErrBusy, quarantine.go) — the commit of
// results and one that leaves without results
// (requeue, hold, poison, recovery: putLeaving, applyEarlyDiscards) alike.
// A discard kept aside is tracked when that commit applies it, as one
// applied at once is: event "discard" ("shadow copy discarded by P"),
// after the commit, and after the "shadow" event of the attempt that
// made the copy (earlydiscardevent.go; SR-11, rt28a F2 — the copy had
// left the queue with no trace, shadowed forever in umbra track). A
// discard applied at once, by its own commit right after the commit of
// the results that handed the copy over and before their events were
// written, waits for them too (eventorder.go; front47 F3): the tracking
// log never has a copy discarded before it was handed over. It waits
// for all of them — the recipients' and the commit's own later ones
// (the DSNs it made, its discard notification, a takeover):
// resultsCommitted ends its hold last (front48 item 3).
//
// A discard names a shadow id, and settles every recipient shadowed
// under it (and every one taken over from that copy and still pending),
// so it is safe exactly when no record at the primary that still needs a
// copy here shares the id. The rule (copyid.go): to a primary that
// speaks shadow verb version 8, every transaction of a relay gets an id
// of its own — the message id, a hash of the primary and 12 random hex
// digits drawn for that transaction, so an attempt repeated after a
// kill -9 that lost the results of the one before gets a new id too —
// and the primary keeps that transaction's copy under that id alone: it
// merges a copy named so into an original it holds only under the same
// id (mergeHeld, sameCopy), so a retry after a lost 250 is a second
// record there, a duplicate, never a copy its merge discards at once. A
// discard from it is then for exactly one copy here: the commit takes an
// early discard once and applies it to the recipients under its id, and
// in whatever order the two servers' commits come, it settles nothing
// else — not the copy of this attempt when it is for a record of an
// earlier attempt whose results were lost (that id names no copy here:
// spent, earlyspent.go), not the copy of another job of this attempt to
// the same primary, not the copy of a later record when a failure DSN
// made for an earlier one carries it. The one id a transaction reuses:
// a taken-over copy sent back to its own primary, every recipient of the
// transaction taken over from one copy, keeps that copy's id, so the
// primary, back with its old database, merges it into its original and
// the original's discard settles it; such a discard fetched during the
// attempt is the original's end, which had done those recipients (else
// they would have merged): the record it leaves without a copy here
// repeats recipients the original delivered, relayed or failed — a
// duplicate's copy, not an acknowledged message's. The taken-over id
// goes back to a primary below version 8 as well (one rolled back after
// it stored the copy: it merges whatever the id, and would owe the
// copy's discard at once under another). A copy on receipt
// taken over here and sent back gets an id of its own (its copy here
// must not look like a copy on receipt), so a version-8 primary keeps it
// as a record of its own beside its original: a duplicate. Its record's
// discard there names that transaction: it settles here the recipients
// it carried, and of those filed under the org id only the shadowed ones
// (a relayed copy the primary pushed again: foldIntoRelayed) — never a
// recipient still pending, taken over from the copy on receipt, which
// the original there may still owe (applyDiscardsTx).
//
// To a primary below version 8 the id names the message and the primary,
// shared by every transaction of the message to it, and the primary's
// discard can name no more than that. The commit of results then spares
// a copy the attempt made under an id the message already held a copy
// under, or made in two of its queues (freshCopies): the primary may
// have written the discard before it stored the record that copy is of
// (its other records were done then), so the copy stays for the
// primary's next discard or its XQUERYHELD answer. A copy the attempt
// made alone under a new id is settled at once (the usual case: the
// primary delivered it before this commit). With such a primary these
// stay open, and cannot be closed here, since nothing in its discard
// tells the records under one id apart: a discard for a record of an
// earlier attempt whose results were lost, fetched after this attempt
// began and before the primary stored this attempt's record; two jobs of
// one attempt to it under one queue name (two destinations behind one
// hub), when the first job's record is done there and its discard
// fetched before the second job's transaction; and a failure DSN there
// carrying the discard of an earlier record (see "One copy, several
// records"). Expiry of shadow copies
// touches only Shadow-state records,
// which are never Active, and the operator's commands (admin.go) refuse
// (ErrBusy) or skip Active messages, once those waiting whole for their
// windows are withdrawn (withdraw.go).
//
// The operator sees a Ready message that waits for its next attempt after
// a deferral as "retry" (DisplayState), and a Ready message whose every
// pending recipient waits in a suspended queue as "held" (StateView, with
// the queues that hold it; such a recipient shows "held" too); its queue
// counts it so: message state and queue status agree. The counts are
// exact at any size (queue list, the console, the umbra_queue_messages
// gauge), and stay cheap: the queue index gives every count but the
// retry split without a record read (Tx.Queues), and the split decodes
// of each Ready message of the queue only the fields before its
// recipients (peekRetryFields: state, attempts, next attempt, last
// error's length; no allocation), after one checksum pass over the
// whole stored record — recipients included, as every read of a record
// checks it. A scrape's cost is that pass over each Ready record's
// bytes (never its body, stored apart), with no decode of its
// recipients, and nothing is cached that could drift from the records. An operator's retry or flush (bulk.go)
// only moves NextAttempt; it never counts as an attempt. A removal or any
// other action by the operator names its actor in the tracking log (the
// admin API audits it); a removal's own event keeps the envelope.
//
// # Final delivery: duplicate record and dumpster
//
// Identity: every message has an organisation message id (OrgID,
// package orgid), given by the first umbra server that accepted it and
// carried by every copy; PutNew gives one to a message new to the
// organisation. Duplicate suppression keys on it, never on the sender's
// Message-ID: two different messages that share a Message-ID are both
// delivered, and copies of one message without any are recognised.
// With it travel the organisation's first arrival (OrgEarlier, kept in
// the record's flags from bit 32 up, which older releases ignore: no
// format change) and DelayNotified: expiry, the delay notice and a
// DSN's Arrival-Date count from OrgArrived, and a notice sent by one
// server is not sent again by the next (settleArrival bounds a carried
// time for clock skew; rt21d M2, M3).
//
// Before writing into a mailbox database the deliverer claims (database,
// org id, recipient) with ClaimFinal: a record in bucket delivered
// makes it a Duplicate (reported DeliveredOK with Duplicate set, not
// written again); a claim held by another message in flight makes it
// Busy (deferred). The commit of an attempt's results (or of the job's,
// ended while others of the attempt run: jobcommit.go) writes the record
// of each fresh final delivery and, through ManagerConfig.Dumpster
// (package dumpster), the database's dumpster copy — one transaction with
// the recipient's Delivered state. Claims are released only after that
// commit, and ClaimFinal reads the record only while holding the claim
// lock, so a copy sees either the claim or the record: two copies of one
// message can never both pass the check. A
// crash between a mailbox write and this commit (or a failure of the
// commit, 5 below) repeats the delivery (at-least-once); the Maildir
// store absorbs the repeat by its deterministic file name. The record
// and the dumpster copy went with the lost commit, so a repeat keeps
// them as a delivery does even though the store found the copy: Recover
// and the stranded retry mark the message (bucket redelivery,
// markRepeat), and the commit of a marked message's results records and
// keeps each suppressed duplicate this server has no record of
// (cmd/umbra TestKill9BetweenMaildirWriteAndCommitKeepsDumpsterCopy,
// TestRepeatAfterFailedResultsCommitKeepsDumpsterCopy). So does the
// commit of a copy taken over from a primary, for its taken-over
// recipients, unmarked: the primary may have written the copy found and
// died before its commit, and, back, drops its original as finished
// here (TestTakenOverCopyFoundInMailboxKeepsDumpsterCopy, rt36 F1). The
// server that took the copy over may hand it on to another hub of the
// store instead of delivering it: it relays every copy with a recipient
// it took over with the mark orgid.RepeatHeader (Message.Carried), the
// receiving hub stores it (Message.MayRepeat, flag bit 1024) and carries
// it on, and its results' commit keeps what it finds for every
// recipient pending as the attempt began, as the takeover's would
// (TestHandedOnTakenOverCopyFoundInMailboxKeepsDumpsterCopy; cmd/umbra
// TestTakenOverCopyHandedToHubOfSharedMaildirKeepsDumpsterCopy). The
// members of a taken-over group recipient expanded here carry no primary
// of their own: the commit of the expansion marks the record MayRepeat,
// so their delivery keeps what it finds and their relay carries the
// mark (TestTakenOverGroupMembersFoundInMailboxKeepDumpsterCopy). A
// marked copy merged into an original this hub still owes (mergeHeld:
// carried, or noted as not copied) marks the original in the merge
// commit, and its attempt's commits keep a mark stored meanwhile: the
// original keeps what it finds for the copy
// (TestMarkedCopyMergedIntoOriginalKeepsDumpsterCopy). Crash:
// the mark is in the record the receipt's commit stored, before the
// 250 to the sender, so a repeat of the receiving hub's attempt keeps
// it; the sender's copy (a shadow copy, or the record of a plain
// relay) goes only after that commit. Any other unmarked message whose
// copy the store has is another hub's delivery into a shared store:
// that hub keeps the copy.
//
// What the mailbox writer searches before it writes follows from what
// the store knows (Message.Prior, read by Tx.priorOf in the commit that
// claims the message; not stored): PriorNone — no attempt of this
// server began on the message, so none of its writes can be in a
// mailbox — lets the Maildir writer skip the search of the mailbox
// (package mailbox CheckFirst). It holds across a crash because an
// attempt begins only on an Active record (the claim's commit, or a
// Submit that dispatches at once) and every way out of Active leaves a
// trace the next claim reads: the results' commit sets the attempted
// recipients' Queue and LastReply (throttled recipients, never
// attempted, get their destination's queue and the throttle's note);
// Recover and the stranded retry mark the
// message (markRepeat). A copy taken over names its primary and
// queue; a redelivered copy is marked with its request
// (MarkRedelivery), read as PriorRedelivery and its request's scan name;
// the marks of its repeats (markRepeat, however many attempts are lost
// in a row) and of a restore of a backup holding it (restoredMark) keep
// that request. A repeat's own mark reads as PriorRedelivery with a
// scan of its own, a restored backup's mark and an older release's
// redelivery mark (no value) as PriorRedelivery with the restore's
// shared scan: a reader may have renamed their files meanwhile.
//
// A redelivery request (package dumpster) first
// clears a database's records of its window, then moves each dumpster
// copy to the messages bucket in the commit that deletes it from the
// dumpster: the copy is in exactly one of the two at any time. An
// operator's removal (Tx.DumpsterDelete from package dumpster) drops a
// copy, its body and its spool file reference in one commit; the file
// goes after the commit that dropped its last reference, as always.
//
// Records an older binary reads (rollback): a redelivery request is
// written in its version-1 layout, which the previous release decodes
// byte for byte; the fields added since (the count of skipped copies)
// are in bucket requestext under the same id, bound to the request by its
// FirstID, and rewriteRequests at open turns version-2 records (the count
// inside the record, unreadable by the previous release) into that form.
// A new field of any record either keeps the previous release's decoder
// reading the record, or comes with a schema version it refuses.
//
// # Resubmitted copies and keyed submissions
//
// Submit looks the new message's org id up in the orgids index within the
// commit that would queue it: recipients that a message queued here with
// the same org id still owes (a primary back with its old database
// receiving the copy its shadow server took over) — pending here, or
// shadowed at a primary other than the copy's sender — are accepted and
// dropped, merged into the original, which delivers them, and counted as
// suppressed duplicates. A recipient the original relayed, delivered or
// failed, or a copy coming back from the primary it was handed to, is
// queued: a route that sends mail back must not lose it. A genuine
// takeover resubmission merges by those rules: the copy arrives in a
// shadow session from the original's own ShadowServer and carries no more
// Received: fields than the original had. Any other copy (relayed here by
// another hub: a taken-over copy re-routed through the point of failure)
// merges only a recipient the original, Ready (not in delivery), holds
// Pending with no Primary — owed here and never handed on, not a
// taken-over copy's — and only when the merge releases no copy
// (releasesNoCopy: the copy came in no shadow session, or under the
// original's own shadow copy); a copy kept by the hub that relays it is,
// once a takeover handed the original's copy on, the message's only one
// off this server, so it is queued and delivered too (a duplicate, never
// a message on one disk); a copy that went round a relay loop or that this
// server relayed to itself finds its recipient handed on (Shadowed,
// Relayed) or the original in delivery (Active: the attempt handing it on
// has not committed), is queued, and the loop ends at max_hop_count with
// 5.4.6 and a DSN. The merge and the discard for the sender's copy are in
// the Submit commit: a crash before it leaves the sender unanswered (it
// sends again), after it the original delivers. When every recipient merged, nothing is queued;
// the sender's shadow copy is released by the original's own discard
// notification when it names the same shadow id and the original still
// has work, else a discard is written in that same commit. So a
// recipient the original still owes (pending) merges only under the
// original's shadow id (sameCopy), whatever the id's form: under
// another, the discard of that same commit would drop the sender's copy
// — the original's only other one — while the original still needs it
// (a copy on receipt taken over and sent back under a relay's id by a
// shadow server below version 8, a copy named per transaction); it is
// queued instead, a duplicate. A recipient the original handed on to
// another primary merges under another id too, when the id is not named
// per transaction (the message is at that primary and in the original's
// copy here), and a quarantined or held original takes every copy (its
// discard went already). Since the crash-duplicate window was closed
// (carried.go), a copy that came in a shadow session under another id
// than the original's merges too into a recipient the original, Ready,
// still owes and never handed on (waitingHere): the original carries the
// sender's copy — kept needed (copyNeededElsewhere) while the original
// exists, owed its discard by the commit that removes or holds it — so
// neither a duplicate nor a message on one disk (settled recipient by
// recipient: each carried recipient the original finishes gets the
// sender's partial discard in that commit, the last the full one); what the paragraph
// above says is queued instead is then only the copy arriving while the
// original is in delivery, and a recipient it handed on. An original already finished is gone from the
// index: what it did stays for that case (finished.go, rt16a F1) — the
// commit of results that finishes a recipient of a message with a copy
// elsewhere records it (bucket finished, by org id and address, with
// the message's shadow server and id; finishedat by time), and Submit,
// in the same commit as the merge, drops from a new message each
// recipient so recorded (event duplicate-suppressed): every one done
// here when the message is the same copy coming back (its sender is
// that shadow server, naming the copy by that id), only those done for
// good (delivered, relayed, failed; not handed to another primary: a
// route back through this server must not lose mail) when it shares the
// org id alone. The sender's copy gets its discard in that commit, whole
// when nothing is left to store (nothing merged), else partial for the
// recipients dropped. The records go message_expiration plus
// shadowExpiryGrace after the finish, with the hourly pruning: a copy
// reaching this server later (made again on a third server late in a
// chain of takeovers) is delivered again. SubmitKeyed
// stores a submission key (a pickup file) with the message in the same
// commit, so a source that offers one submission twice after a crash
// queues it once; a pickup file's key names its file (bucket
// submitnames, in the same commit) and is pruned after
// message_expiration only once the pickup directory shows that drop
// gone (ManagerConfig.PickupKeyGone, looked at off the scheduling loop,
// pickupkeys.go, pickupprune.go), so an unmarked NAME.eml that lingers (its rename to
// .queued failed: a read-only directory, a move that hung) is never
// submitted twice however long it stays. The commit removing a pickup message's record notes its
// end (bucket pickupends, pickupfate.go; pruned, by the same looks, after message_expiration
// only once the pickup directory shows its .queued file gone,
// ManagerConfig.PickupFileGone, so a crash before the file's removal
// and any downtime never send it twice, and never while the message's
// submission key is kept because it names a lingering unmarked file,
// pickupKeyHolds, read by the look off the scheduling loop once per
// hourly round — that file, marked later, asks for this end): at a start
// a NAME.<id>.queued file goes only for such a noted end; a file whose
// message this database neither holds nor noted is submitted again
// (Manager.PickupFate).
//
// # Waiting senders and callout answers
//
// A sender still waiting for delayed acknowledgement registers with
// HoldRefusal before its message is submitted. When one attempt's results
// leave every recipient Failed, finish claims that registration, makes no
// failure DSN, commits, and then hands the sender the refusal (the next
// hop's code and enhanced code; 554 5.0.0 when they differ). Claim and
// withdrawal (the sender's timer) are serialised under one mutex, so
// exactly one of "the sender gets the 5xx" and "the sender gets its 250
// and the DSN is made" happens. If the commit fails, the sender gets its
// 250: the message is still Active on disk and retried after restart
// (point 5 below), and its failure is then reported by DSN.
//
// The rcptcache bucket holds the recipient callout's answers (package
// recipients): one durable write per answer, pruned by age and bounded
// in number — the write that takes the cache past its cap evicts, in
// its own commit, negative answers first, then the oldest positive ones,
// through the rcptage index, and keeps the entry count in meta (a
// database without the count is counted and indexed once, at its first
// write). They are a
// cache of the next hop's directory; losing them costs only 451 replies
// for addresses not asked again yet.
//
// # Clock steps
//
// Stored times are wall-clock times; timers run on the monotonic clock.
// The scheduler compares the two at every wake (clock.StepDetector); a
// step of a minute or more moves every stored arrival and every Ready
// message's next attempt by the step (clockstep.go, a batch per
// transaction), so a message's real wait for its retry and its expiry
// stays what it was: no retry storm and no mass expiry after a step
// forward, no stalled retries after a step back. Active messages are
// left to their attempt's commit (one writer). The dumpster's kept-at
// and the duplicate records' delivered-at times (in their keys) move by
// the step too, walking against its direction so that no moved key is
// met twice (clockstep_ages.go): their age bounds hold across a step.
// Quarantined messages age by their arrival, which moves with the rest.
// Smaller records timed for pruning only (discard notifications, early
// discards, submission keys, callout answers) keep their times: a step
// moves their pruning by the step, well inside message_expiration.
//
// # Quarantine
//
// A message submitted with a quarantine reason (Message.Quarantine, set
// by an edge check) is stored by the same one commit as any other — the
// 250 still follows the fsync — but Quarantined: no schedule entry, no
// active slot; its queues entry is "quarantine". The state and the
// reason go together (Tx.Put refuses a record where they disagree; the
// record is version 3 only then). In the same commit the discard for its
// shadow server, if any, is written: a quarantined message must never be
// taken over and delivered elsewhere, so it exists on this server only.
// A copy that a shadow server took over anyway (the discard lost) and
// resubmits merges into the quarantined original (mergeHeld), and its
// sender's copy is discarded in that commit, not when the quarantine
// ends.
// The quarantine holds the only copy of its message on this server: the
// same commit settles every recipient of the same org id that another
// record here holds Shadowed (a copy on receipt, a shadow copy of a
// relay) — a copy left with nothing goes; one in a record in delivery
// is settled by the commit that ends its attempt, and the quarantine
// does not end before it (ErrBusy) — and a copy on receipt pushed
// after the message was quarantined keeps none of the quarantined
// recipients (quarantine.go). Otherwise the copy's primary failing would
// have it taken over and delivered unreleased. Any later arrival with
// the org id of a quarantined record (org ids are kept only from the
// organisation's transport servers) merges into it (mergeHeld), so a
// message relayed twice is one quarantine record, released once.
// Release (Ready, due now, reason cleared, tracking keeps it), delete
// (with or without DSN) and expiry (quarantine.go, hourly with the other
// pruning) are each one commit; a crash leaves the message quarantined
// or its change done, never half.
// The quarantine has a bound of its own (SetQuarantineBound, quarcap.go):
// at or over it, Submit refuses a quarantined message with
// ErrQuarantineFull and nothing is written (the session answers 452
// 4.3.1), so nothing acknowledged is lost; mail without a verdict is
// never refused for it. The check is made in the transaction that stores
// the message (roomInTx), so concurrent sessions cannot overshoot the
// bound; a refusal in a commit shared with other sessions fails that
// commit, and each of its writers runs again alone (commit.go), so only
// the refused session goes without its message. The totals checked are
// cached, grown by the commit hook of each quarantined commit and
// recounted in such a transaction after a message left the quarantine
// or a minute after the last count: no scan per message, and none at
// all while no bound is set.
//
// # Life cycle: backup, restore, compaction, schema versions
//
// Store.Backup copies the pages of one read transaction (bbolt's
// WriteTo): a backup holds every commit before it wholly and none after.
// The read transaction writes only to a local snapshot file beside the
// database and ends before a byte goes to the client: a commit that grows
// the file waits for every read transaction (mmap remap), so a read
// transaction must never wait for a client's socket. Open removes the
// snapshots a killed backup left, with what a killed compaction or
// restore left, by the one list of those names (internal/leftover) that
// the commands also refuse as a file they write, and reports each file
// it removed (Leftovers) for the start's log: no file an operator named
// is removed as a leftover, and none is removed unsaid (rt32c F1).
// SaveBackup writes the copy to a new file, fsyncs it, marks it (meta
// backup_of: the id it was taken of) and links it to its name, so a
// backup is never half a file and never replaces one. The new file is
// made, linked and removed, and stale ones removed, in the directory
// opened once and held (CreateTempIn, which message export -o uses
// too), never through a path that may lead elsewhere by then; a
// directory its path no longer names before the link refuses the
// backup (ErrDirReplaced), and the caller judges the place on the held
// directory (SaveOptions.Place). Its writer holds
// a lock (flock) on the new file from its creation until its temporary
// name is gone (CreateTemp; bbolt is given that descriptor for the
// mark): a later backup removes a partial copy only when it can take
// that lock — its writer killed; the kernel lets the lock go with the
// process — never by the writer's pid, which names no process from
// another pid namespace or host (RemoveStaleTemps; a release-24 copy,
// named without the lock mark, still by its pid). The Open that
// finds the mark gives the database a new id and deletes the mark in
// the same commit: the shadow servers hold copies of what the original
// acknowledged after the backup, and only a new id makes them resubmit
// (SR-7); a crash before that commit leaves the mark, so the next Open
// does it. The same commit records the last message id the backup holds
// (meta restored_upto): the shadow copies up to it may be of messages
// whose discards this server applied after the backup, so they are
// asked about at their primary's first contact, whatever their age
// (heldquery.go), until none of
// them is younger than HeldQueryAge: then the mark goes (endRestored),
// the age rule covering them all.
// The restore also records in its copy, before the copy takes the
// database's name, the ids of the messages the backup holds that the
// replaced database (read, so known) had finished since — delivered,
// relayed, removed, bounced, expired, or held there restored suspended
// by an earlier restore of the same backup (meta restore_gone,
// restoregone.go) —, the ids of those of its messages to deliver the
// replaced database holds suspended by the operator (restore_held) and
// the queues it holds suspended that the backup does not
// (restore_queues), each recorded in the replaced database's own meta
// when it is a restore's not started yet; the first Open suspends them
// all and removes the three keys in that same commit: a crash before it
// leaves the keys for the next Open, or for a second restore, which
// reads them as the holds they record; after it, all are done. A
// suspended message is never claimed, so no such message is delivered
// twice by the restore, nor one the operator held released by it; one
// the operator resumes is delivered as any resumed message.
// A replaced database absent or unreadable records nothing: every
// message is restored as it was (the disaster case).
// The meta key server (SetServer, at serve's start) goes into
// every backup, and CheckBackupOrigin refuses another server's backup
// (the CLI's --force skips it). The commit that marks a backup also
// records the SHA-256 of every bucket's content and of every message
// record and body, spooled bodies included (bucket backupsums,
// backupsums.go). Every reader of a file it did not just write — Open,
// compaction, BackupOrigin, VerifyBackup, Restore — first checks it
// against what its meta pages claim, with ordinary reads (filecheck.go):
// a file shorter than the pages its meta names (a copy cut short) is
// damaged before any page is read through bbolt's mapping, where a read
// beyond the file's end is a fault, not an error; Restore takes the
// replaced database's lock with flock and reads none of its pages, so
// a damaged database is replaced as a sound one is. Restore (server
// stopped, file lock held) reads every page of the copy and checks every value against those checksums before
// it replaces anything — a changed byte is refused, naming the message —
// and keeps the replaced file and spool directory under one unique
// suffix; a backup without checksums (an older release) only with
// RestoreOptions.Unverified; a backup of a newer schema version than
// schemaVersion (ErrNewerSchema), whatever the options, before anything
// is copied, as VerifyBackup names it. The Open that takes the mark drops the
// checksums. Compact (same lock) replaces the file only with a complete,
// fsync'd copy. Both lock their copy (flock) before it takes the
// database's name and hold it until they end: the name is locked at
// every moment — before the rename by the old file's lock, after it by
// the copy's — so a daemon starting waits (its Open retries the lock)
// and a command says a db command runs (LockHolder), never finds the
// restored file unlocked while the restore still moves its spool
// directories; a restore killed with SIGKILL at any step leaves the
// replaced database or the restored one at the name, whole, and the
// next Open finishes the rest (restorekill_test.go). Before any of
// that — before the backup is read or what it leaves behind is counted
// — Restore and Compact take the db commands' side lock beside the
// database (path.cmdlock, flock, exclusive, their pid and command line
// written in it: cmdlock.go), and Open takes it shared before it looks
// at the database and lets it go once the database's own lock is held:
// a daemon started at a command's first second waits for it, naming it
// from the file where /proc/locks is hidden; the lock dies with its
// holder, so a killed command's file blocks nothing; a command of an
// older release, which knows no side lock, is still met at the
// database's lock (cmdlock_test.go). What such a command reports from
// the files is read under that lock too: the backup's origin
// (RestoreOptions.Server) and its schema version (BackupSchema), the
// compacted file's (CompactOptions.FileSchema) — nothing before it
// (ops27 3). The data directory is the daemon's
// user's, who can plant links in it: a command run as root writes no
// file there through a symlink or a hard link — its copies are made
// afresh with O_EXCL and opened again only as the same one-name file
// (datadirfiles.go), a side lock it did not make is written in only when
// it has one name and is the caller's or the data directory owner's
// (else replaced under its lock), and a missing database the restore's
// lock makes is made with O_EXCL (a dangling symlink at the name is
// refused: openDBFile) (datadirlinks_test.go, dbfilelink_test.go,
// cmdlocklinks_test.go). The data directory's own path is walked name by
// name by db restore (CheckDataDirPath, MakeDataDir) and by the chown
// --owner makes of it (chownDir): a symlink on it that a user other
// than root and the caller may have planted — in a directory such a user
// owns or may write without the sticky bit, or of such a user in a
// sticky one — is refused, the kernel's protected_symlinks rule made
// strict; missing directories are made with mkdirat from a descriptor
// of the checked one above (safepath.go). Every later step of the
// give-away opens the directory above its target the same way
// (walkOwned, giveOwnerDir through openDirChecked), and db restore and
// db compact each hold one descriptor of the data directory, walked
// under that rule at their first step (before the side lock), through
// which — with or without --owner — the side lock is made, replaced and
// removed (lockCommand, removeCmdLock: openat/unlinkat, rt30c F3), the
// restore's lock on the database taken and the empty file it makes where
// there is none made (lockCounted on heldPath), the spool is
// given (giveTreeAt, openat/fstatat with O_NOFOLLOW), the replaced
// database's second name made (keepReplacedAt: linkat), the restored
// file renamed over the database and the restored spool installed
// (renameat: installRestoredSpoolAt), the replaced spool moved aside,
// and the compaction's spool files written, given and removed
// (respoolInline and openDirAt from the held parent), its copy renamed
// (syncRenameAt) and a spool directory it made removed (unlinkat).
// A data directory replaced after that rename leaves the command done
// in the directory held: it tells where that is now (DirReplaced), and
// db compact reports the size of the file there, not of the one the
// path leads to. A queue.db that is a symlink (which Open follows) is
// refused by both at their first step, naming the link and its target:
// their rename would replace the link by a file and leave the database
// it leads to whole where it is, unnamed (linkeddb.go, rt30c F4).
// SaveBackup (db backup's file) holds FILE's directory the same way:
// its partial copy is made, linked and removed, stale ones removed, and
// the directory synced through the descriptor, and a directory replaced
// at its name before the link refuses the backup.
// Before its rename each command checks that the path still names the
// directory it holds (stillAt): one moved and replaced by a link at its
// name meanwhile — the daemon's user may, owning the directory above
// (/var/lib/umbra) — refuses the command, the database unchanged, and
// what it made is removed through the descriptor; nothing is done
// through the link (ops3_restoreownerlink_test.go, swapdir_test.go).
// The commands' own files are made, opened again, given their owner,
// locked and removed through that descriptor too (datadirfiles.go, the
// In variants: the copy path.restore or path.compact, made with O_EXCL
// and O_NOFOLLOW by openat; the restore's path.restore-compact; the
// staging spool; a killed restore's second names of the database), and
// the restore's check of its copy reads it there (heldPath, through
// /proc/self/fd): a swap between the hold and the first stillAt makes,
// writes and removes nothing where the link leads
// (swapcopy_test.go). The compaction reads its source database there
// too (openChecked of heldPath): a directory swapped at the name after
// the hold and swapped back before the rename's check does not have it
// compact the other directory's database and rename that copy over
// this one (compactsource_test.go). A file whose schema version is newer than schemaVersion
// is refused (ErrNewerSchema) and left unchanged — by Open, Compact and
// Restore alike; older versions are
// upgraded in the transaction that opens them. The same transaction
// rewrites the redirect queue names an earlier release stored as typed
// to their one form (rewriteRedirectNames, redirectname.go: the queue
// index's "redirect:" entries, the queue of the recipients they index
// and of those of poison and quarantined records, indexed under those
// queues only — read by the first open only, which marks it done in meta
// redirect_names_done in the same commit —, the suspension marks): a crash
// before its commit leaves every name as it was, and the mark unset, and
// the next open rewrites them; a database rewritten already has nothing
// to rewrite (a name in its one form is its own form).
//
// # Durability and the crash argument
//
// Every write goes through Store.Update (or UpdateDeferred, point 4, or
// UpdateLater: the note of a push on receipt confirmed, pushcrash.go —
// lost at a crash, the copy is made again —, or UpdateLaterUnread: the
// forgetting of discard notifications a shadow server acknowledged,
// forgetsent.go — lost at a crash, they are sent again and ignored there;
// until it commits, with the next commit any writer asks for or after
// DeferLimit, what is being forgotten is left out of what is owed, and
// neither a waiter's Flush nor the next query commits it early),
// whose group commit (commit.go) folds the writers that are waiting into
// one bbolt transaction, run on the goroutine of one of them (the
// leader: the oldest writer queued when no commit runs), and returns to
// each only after Commit (write + fdatasync of data and meta pages)
// returned. Which goroutine runs the transaction changes nothing here:
// the leader answers each writer of its batch only after Commit.
//
//  1. A message is acknowledged (250) only after Submit returned nil, i.e.
//     after the transaction holding its record, body and index entry is on
//     disk. A crash before that loses only a message the client still owns:
//     it saw no 250 and retries.
//  2. bbolt commits are atomic: after a crash the file holds either the old
//     or the new tree, never a mix, so record, body and index entries always
//     agree.
//  3. A claimed message is Active in the database before delivery starts.
//     A crash during delivery leaves it Active; Recover makes it Ready again
//     (at-least-once: a next hop that had already accepted it may get it
//     twice), in one commit with the discards and takeovers kept aside
//     for it (putLeavingTook). That commit (with the peer-wait run mark,
//     the spent early discards and the held mail made due) is the only
//     write Recover needs; when it fails for want of room (a full disk
//     at the start) the server starts without it: the messages stay
//     Active on disk — no claim takes an Active message, so none is
//     attempted before its recovery —, receipts fail their commit
//     (452 4.3.1) and Ready mail is delivered, and the run loop tries
//     the same commit every recoveryRetry for the messages Active at
//     the start only, read once before the scheduler ran
//     (recoverlater.go); a crash before it goes through leaves what the
//     start found; a discard kept aside for a copy the lost
//     attempt made is spent then and dropped (earlyspent.go), so that
//     the next attempt's copy under the same shadow id (a primary below
//     version 8) — a new record at the primary — is not settled by it. A
//     version-8 primary's copies are named per transaction by a random id
//     drawn before the transaction's MAIL and stored only by the
//     primary's commit of its record and this server's commit of the
//     results (copyid.go): a kill -9 at any step loses at most an id no
//     record here holds, whose discard then settles nothing, and the
//     next attempt draws a new one. The crash counts against it
//     only if umbra's own code was running on it then — the attempt's
//     start (attemptable, plan: the planner does no I/O, so a recipient
//     whose mailbox database only the directory can tell goes to a job
//     that asks), a job
//     from its start (the body load is inside) to its report except while
//     it waits on the next hop (AwaitingPeer: connecting — dial,
//     greeting, EHLO, TLS, AUTH, a relay's XSHADOW —, or its replies to
//     the envelope, to the end of the message and to the shadow verbs
//     after it, on every path: MX, smart host, hub, LMTP; or a write to
//     it that blocks because the next hop does not take more (smtp
//     peerwrite.go); dot-stuffing and a write the socket takes at once
//     are umbra's code) or on the directory (a mailbox database asked
//     of LDAP, bounded by ldap.timeout), and the attempt's end
//     (complete, finish) until its
//     results are handed to the store, and in the store's commit of
//     them (the end's, a ReportGroup's) its dumpster copy kept (keepOwn:
//     Keeper.Keep reads the message and its body; rrstrand42): not
//     while it is queued behind its
//     destination's window, nor while its results wait for their commit
//     (point 4), nor while a job waits for another message (its
//     mailbox's LMTP turn: rt41 F1) or for the commit of the part of
//     it that ended first (ReportGroup: from the hand-off to the store
//     to its return, and for another part's commit under way before
//     it) — a wait is never umbra's code on the message. A
//     job of several groups (Deliver's, one session each) waits only
//     while every group of it does: each group runs on a strand of the
//     job (Strand) whose waits are its own, the job waiting for them,
//     so one group's wait never hides another's code (rrdelivrt41).
//     Each attempt's slot in <data_dir>/peerwait.slots says
//     running, waiting or free, one pwrite per change of phase and no
//     fsync (peerwait.go); each start makes it anew with O_EXCL
//     (createFresh: a link planted at its name is unlinked, never
//     written through). The file is trusted only if it is a regular
//     file whose header names this boot (kill -9 keeps the page cache; a
//     power loss or a kernel crash may lose it and changes the boot id)
//     and the run the database recorded at the last Recover, read whole
//     within its bound with every slot sound; otherwise every Active
//     message counts, as does every one after a write to the file failed
//     (the file is emptied and removed). The marker directory of an
//     older release, <data_dir>/peerwait, is read then and removed with
//     all in it (a file at that name too), logged as a leftover; the name
//     is on the one list (leftover.Beside) no command writes to. So a message is at worst parked
//     too early, never a poisonous one looping. A message that counted
//     a crash is a suspect: suspects' attempts run one at a time, each
//     holding the suspects' turn from its first job's start to its end
//     — its waits on the peer and its body written at full speed
//     included — (suspectgate.go, "Suspects"), so a kill soon after a
//     start — when every recovered message begins at once — counts
//     again against at most one of them. The turn is bounded
//     (SuspectTurn, 10 s): a suspect that hangs hands it on then, and
//     only a kill while two suspects run past that bound counts both; a
//     suspect waiting for the turn lends its slot of the active set
//     (turnwait.go), so mail that counted no crash is claimed beside
//     the suspects (TestQ6SuspectWaitingForTurnHoldsNoActiveSlot). A
//     stop umbra decides counts no crash: the drain cuts its attempts
//     (stopReply), and the immediate stop of a second signal marks every
//     slot in use stopped before the process ends (StopAtOnce: a pwrite
//     each; nothing written to the slots after), which Recover reads as
//     no crash. Only PoisonThreshold
//     counted crashes since its last completed attempt move it to the
//     poison queue, where it stays for the operator; it is never dropped.
//     Every move to poison (here, a panic, an unreadable body) is the
//     event "poison": tracked and counted.
//  4. Results, the message's removal and the DSNs they cause are one
//     transaction. A crash before it commits repeats the attempt (a
//     duplicate, never a loss); after it, the DSNs are as durable as the
//     message they replace. It also drops the discards kept aside for
//     this message's relays that matched no copy (a relay whose 250 was
//     lost): spent, they must not settle the next attempt's copy under
//     the same shadow id (earlyspent.go). That transaction may be deferred
//     (Store.UpdateDeferred; the store's Options.DeferLimit, from
//     transport.result_commit_delay, 10 ms): when nobody waits
//     for the results (deferResults: no sender in delayed
//     acknowledgement or waiting for its refusal, no shadow server in
//     XQUERYDISCARD WAIT= for the discard or delay note it writes, not
//     at shutdown) it rides along with the next commit another writer asks for — a
//     receipt's, usually — and waits at most DeferLimit for one. A
//     waiter that registers later has it committed at once (its Flush),
//     and so does one that registered between the decision and the
//     queueing: the decision is asked again once the writer is queued
//     (commitResults, Store.UpdateDeferredUnless). Every
//     commit takes the deferred writers before it in arrival order, so a
//     later change to the message sees the results. The attempt's
//     goroutine still waits for the commit before it acts on the results
//     (waiters, discard signal, claim release, spool unlinks), so nothing
//     that follows from durable results happens before they are durable.
//     That goroutine is never one somebody else waits on: the jobs of a
//     dead destination, and an attempt whose every job was held back
//     (throttled), are answered and committed on one of their own, not on
//     the receiving session's inside Submit nor on the scheduler's loop
//     (TestSubmitDoesNotWaitForDeadDestinationResults, …ThrottledResults).
//     A job that ends while another job of the attempt still runs (a
//     session hung for command_timeout or data_timeout) does not wait
//     for it: what it relayed, handed to another transport server in a
//     shadow session or delivered into a mailbox is committed then, the
//     same way (jobcommit.go) — the recipients done in the record, which
//     stays Active (a hand-off shadowed for its primary, the primary
//     noted through the one database check, as the end's
//     shadowTransitions does), with their claims, dumpster copies,
//     finished notes and the partial discards owed, which a waiting
//     shadow server's long poll takes at once — so that a crash in the
//     rest of the attempt repeats neither here nor, after a takeover,
//     at the copy's holder what was handed on (rt20f F1, reread22a F1).
//     A hand-off to a primary whose stored database is not the one the
//     copy was made with is left to the end, which takes it over; the
//     end judges the database of the hand-offs committed early again,
//     and so takes them over too if the primary was replaced since.
//     A job's failure and a recipient whose sender asked for a success
//     DSN are committed then too, with their DSN (sched32): a failure DSN
//     is not late by as long as a hung sibling runs. The steps: (a) the
//     job ends and reports; (b) its DSNs are built from the attempt's
//     message with the jobs' commits applied — umbra's code on the
//     message, a section of its own (for a suspect only while the
//     attempt holds the suspects' turn, otherwise those results are the
//     end's), nothing on disk changes; (c) one transaction writes the
//     record, still Active, with these recipients Failed, Delivered or
//     Relayed and their replies, the DSNs (PutNew, marked held by this
//     server only: other recipients are still pending, so no discard
//     carries them), the partial discard owed to the copy's holder for
//     the recipients no failure DSN reports and, for those one reports,
//     the note that owes it at that DSN's departure (reportedcopy.go), as
//     an end that leaves recipients pending writes them; (d) the events
//     ("fail", "dsn", …) after the commit; (e) the end, finding the
//     recipients in a.early, makes no DSN and no event for them again. A
//     kill -9 before (c) commits leaves the record as the attempt found
//     it and no DSN: Recover makes it Ready, the next attempt tries the
//     recipient again and its end (or job) makes the failure and its
//     DSN — never none. A kill -9 after (c) leaves the recipient Failed
//     (or done) beside its DSN in one tree: Recover makes the message
//     Ready with that recipient done, no attempt tries it again, so no
//     second DSN is made for it; the DSN, a Ready message of its own,
//     is sent once by the restarted server (cmd/umbra
//     TestKill9AfterEarlyFailureDSNSendsItOnce). The hung recipient stays
//     pending in the record and is tried by the next attempt: delivered
//     once (a next hop that took it before the kill but whose 250 was
//     lost may get it twice, as any crash in an attempt). Not committed
//     early: a failure while a sender waits for every recipient's refusal
//     (SR-9: only the end decides between the refusal and a DSN), a
//     failure of umbra's own DSN (the refit, dsnrefit.go), a hand-off in
//     a shadow session whose sender asked for a success DSN (the end may
//     take it over), a duplicate found in a mailbox
//     (TestFailureDSNNotHeldByHungSibling,
//     TestSuccessDSNNotHeldByHungSibling). Nothing else is: the retry
//     time, the attempt count, the full discard and the waiters are the
//     end's, which commits them over all the results as one commit of
//     the attempt would, leaving out only what the jobs' commits wrote. The delay DSN is the end's too,
//     unless a job still runs noticeGrace after it fell due: then it is
//     committed beside that job, through the same path (a.cmu before the
//     end; noticecommit.go), for the recipients still pending and not
//     finished by a job that ended — the DSN's PutNew, the record marked
//     DelayNotified (Active, as the jobs' commits left it) and the delay
//     notes owed in one transaction — and the end, finding it made,
//     makes none. A crash before that commit leaves no notice and the
//     record unmarked (the next attempt's end makes it); after it, the
//     record is marked, and Recover's Ready message makes no second one
//     (TestQ3CrashAfterNoticeWhileJobHangsNoSecondNotice). A finished
//     job's deferral is committed at the end (a second attempt of the
//     record while this one runs would be a second writer of it), but
//     its retry does not wait: the attempt queues the deferred
//     recipients' jobs again at their retry step while another job
//     runs (siblingretry.go), writing nothing — a crash meanwhile is a
//     crash of the attempt, as below. The end commits a recipient's
//     first result unless the retry's deliverer answered for it (a
//     retried job sent back unstarted leaves the host's first reply,
//     TestQ3SiblingRetryNotStartedKeepsHostReply); and once a job of
//     the attempt panicked, no retry and no job still waiting for its
//     slot starts (the poison record keeps only the jobs' own commits:
//     a relay left to the end would be sent again at a release;
//     TestQ6NoSiblingRetryAfterAPanic,
//     TestQ6PoisonedAttemptStartsNoWaitingJob). A crash between a job's commit
//     and the end leaves the message Active with those recipients done
//     and the rest pending as the attempt found them; Recover makes it
//     Ready (3), and the next attempt tries the pending ones — none lost,
//     none of the finished repeated — and its end makes what the lost
//     end would have (the DSNs, the full discard). Restart is right
//     because a job's commit wrote only what is true of its recipients
//     whatever the rest of the attempt does, and nothing that depends on
//     it: a copy shadowed for its primary is the same whether the end
//     writes it or a job's commit did, and Recover settles it by the
//     discards kept aside for it as any copy (putLeaving)
//     (TestCrashAfterJobCommitRetriesOnlyTheHungRecipient,
//     TestCrashAfterShadowedJobCommitHandsOnOnce, cmd/umbra
//     TestKill9WhileAnotherJobHangsHandsOnceOnly). A job is what the
//     plan made it: with a topology, the recipients whose mailbox
//     database only the directory can tell (not in its cache) are one
//     job (delivery.Plan), which Deliver routes into several groups; each
//     group's results are reported as its session ends (ReportGroup,
//     groupreport.go) and committed then as a job's are (commitJob), so
//     they do not wait for the slowest group's session either
//     (TestGroupOfJobCommittedWhileAnotherGroupHangs); so are the
//     results of each transaction of a group whose next hop refused
//     recipients as too many for one, before the next transaction
//     sends those (delivery reportRound,
//     TestQ5TooManyRecipientsRoundCommitsBeforeNextRound).
//     The only thing deferral changes is the length of the window in
//     which a crash repeats the attempt: the next hop's 250 (or the
//     mailbox write) to the commit is up to DeferLimit longer. A crash in
//     it leaves the message Active, and Recover makes it Ready again (3):
//     redelivered, never lost (cmd/umbra
//     TestKill9BeforeDeferredResultCommitRedelivers). A waiter that
//     arrives while results are set aside flushes them (Store.Flush from
//     WaitGone, WaitHandedOn, DiscardSignal); an operator's request
//     waits until they are committed (Manager.Settle, called by the
//     admin API before every request), and an operator's change is a
//     commit that takes them first; the shutdown of the scheduler ends
//     deferral (Store.StopDeferring), and Close commits what is left.
//  5. If that transaction fails (disk full, an I/O error), the message
//     stays Active in the database, in no time index, and the attempt's
//     results stay in memory with the function that commits them
//     (pendingresults.go): the scheduler's loop tries that commit again
//     every strandedRetry (5 s) until it goes through, and only then does
//     what follows from committed results (events, waiters, discard
//     signals). The attempt is not made again meanwhile: what a next hop
//     or a mailbox took is not handed to it again however long the disk
//     stays full (rt51 F5, TestFailedResultCommitDoesNotDeliverAgain). The
//     commit function is the one given to the first commit; like any
//     function given to Update it reads the stored state each time, so
//     the discards and takeovers kept aside meanwhile are applied when it
//     goes through (one writer per message: an Active record is written
//     by nobody else). A stop tries once more (Manager.Wait); what still
//     fails, like a crash, leaves the message Active, and Recover makes it
//     Ready again (3): the one repeat a full disk may cost, a duplicate,
//     never a loss, the event "repeat" (one per recipient still to
//     deliver, with its queue: repeatEvents). The first commit
//     (commitResults) and the retried one go through the space reserve
//     (UpdateFreeing, spacereserve.go), as do a claim of one due message
//     and the start's own commit of a database that holds mail: on a full disk it may give
//     up the space reserve, a file in data_dir nothing else writes into,
//     and is tried once more — the reserve changes which commits find
//     room, never what a commit writes or when it is durable, so this
//     argument holds with it or without it (a crash between the file's
//     removal and the commit leaves the commit undone, as any crash
//     before a commit does). The commit of a requeue, a hold or a
//     move to poison, and the results' commit of an attempt that answered a
//     waiting sender's refusal (which handed nothing on, and whose sender
//     was told no refusal), are not retried as such: the manager
//     remembers the message (stranded.go) and its loop tries every
//     strandedRetry the commit Recover would make for it — Ready, due
//     now, the discards and takeovers kept aside applied (those for
//     copies the lost results named dropped: earlyspent.go), no crash
//     counted — until one goes through (the event "repeat"). The commit
//     that makes a message Ready again (here or in Recover) marks it
//     (markRepeat), so a mailbox copy a lost attempt wrote gets its
//     dumpster copy from the repeat (see Final delivery).
//  6. Shadow state changes with the copies it is about: a primary's
//     record (database id, failures, taken over) and the recipients a
//     takeover or a discard changes are one transaction, so after a crash
//     the stored id is the one the stored copies were compared against;
//     a takeover recorded for a message in delivery survives a crash in
//     bucket earlytakeover and is applied by the attempt's commit after
//     Recover.
//     The index of taken-over copies (bucket takenby: primary ‖ message
//     id → per copy id, the database id the copy was taken over under
//     and whether it goes back to it; takenEntry) cannot go
//     stale: Tx.Put and Tx.Delete, through which every change of a
//     message record goes, move its entries in the transaction that
//     writes the record (an entry exists exactly while the record has a
//     pending recipient naming that primary and a shadow id), and the
//     takeover that records a database id writes it in the same
//     transaction; a crash leaves both or neither. A release that wrote
//     records without the index (an upgrade, or a rollback and forward
//     again) is caught by Open, which reads every message record in its
//     one transaction and adds the entries missing (no database: never
//     given back — which database such a takeover was of is not known)
//     and deletes those naming no taken-over copy; entries that agree
//     keep their values, and an entry of an earlier release (one value
//     for the message) is rewritten per copy with that value for every
//     copy it had taken over, in that transaction (a crash leaves the
//     old entry, read alike: its value for every copy). The copy's id
//     also bounds what settles it: a
//     discard (full or partial) from a session that presented another
//     database id — the primary back with a new database, which holds no
//     record of mail accepted under the old one — settles none of it
//     (takenUnderOther); an empty id keeps the earlier rule. The entry
//     is one per message and primary, its value per copy: a copy of the
//     message made against the new database since (relayed to the
//     primary again) is settled by that database's discard
//     (settlesNot), held or taken over in turn for failed heartbeats and
//     then given back to that database, while a recipient taken over
//     under the old one stays this server's — one that comes while the
//     attempt making the copy is in delivery here is kept for its
//     commit, unless a recipient taken over under the old database
//     shares its id (takenOverUnder). One value for the message filed
//     that later copy under the old database: never given back, settled
//     by nothing the new one said, and delivered by both servers. A
//     second takeover of the same copy keeps its database and
//     never-given-back wins (mergeTaken; so does a second takeover kept
//     aside for a message in delivery, addEarlyTakeover, whose copies
//     were all made before the attempt: a copy the attempt makes is not
//     its to take): given back to the new database, the old copy had no
//     original there, and its "done" answer to XQUERYHELD dropped it. A contact's give-back and the reset of the primary's
//     failures are one commit: after a crash the copies are held again
//     and the primary counted as answering, or neither (the next contact
//     gives them back). An attempt's give-back of the copy it would have
//     sent (GivenBack, givebackrelay.go) is in the commit of its results:
//     before it the copy is taken over and Active, unsent, and Recover
//     makes it due again; after it it is held for its primary.
//     The count of failed heartbeats that made a takeover (bucket
//     takeoverfailures) is written with the primary's record in the
//     takeover's commit and deleted with it by the contact that ends it.
//     A primary's refusal of this server's database as another server's
//     (bucket disowned, disowned.go) is written in a commit of its own
//     when a heartbeat is refused so, and deleted in one of its own when
//     the primary lets a session in, before that session's contact is
//     recorded: a crash between leaves the refusal standing (no copy
//     taken over by failed heartbeats) until the next session let in.
//     A commit storing a copy the primary pushed deletes it too (the
//     primary took this server as its shadow server again). A failed
//     heartbeat reads it in the commit that would take over; an expired
//     copy of such a primary is taken over at its expiry as any copy (a
//     renamed server meets the same refusal: its copies are the only
//     ones).
//     A copy carried by an original (bucket carriedcopies, carried.go)
//     is written by the Submit commit that merges it, and its discard
//     by the commit that removes or holds the original: a crash leaves
//     the copy carried and kept, or discarded with the original's end,
//     never discarded while the original still owes a recipient.
//     A carried recipient the original finishes (carried.go) has its
//     partial discard, and the last one the copy's full discard, written
//     by the commit that finishes it (Tx.Put) and leaves the entry in
//     that commit: a crash leaves it pending and carried, or finished
//     and settled.
//     A recipient merged into an original with no carry (mergeHeld: a
//     plain relay, a takeover resubmission) is recorded (carriedcopies,
//     'm' keys, carried.go) by the same Submit commit, and forgotten by
//     the commit that removes or holds the original: no taken-over
//     copy's note (takendone.go) settles it while it is recorded, nor a
//     carried one — a crash leaves the merge and its record, or neither.
//     A copy on receipt held here for the server that relays the same
//     message here in a shadow session is settled by the Submit commit
//     that stores the relayed original (nexthopcopy.go, rt18b F4): a
//     crash leaves both records, or the original alone — which is on
//     this disk, its sender keeping the relay's copy — never neither.
//     The record of a finished recipient (bucket finished, finished.go)
//     is written by the commit that finishes it, and a copy coming back
//     is dropped by the commit that would have queued it: a crash leaves
//     the recipient pending (the copy merges into it) or finished and
//     recorded, never finished and unrecorded.
//     The note of a failure DSN's reported recipients (bucket
//     dsnreported, reportedcopy.go) is written by the commit that makes
//     the DSN, and turned into their partial discard by the commit that
//     sees the DSN leave, which deletes it: a crash leaves the DSN here
//     and the copy covering them, or the DSN gone and the partial
//     discard owed, never the DSN gone and nothing owed. Its index by
//     original (dsnreportedby), which a message's end reads for its
//     early failure DSNs (earlydsn.go), is written and deleted in the
//     transactions that write and delete those entries, and checked
//     against them by every Open (repairReportedIndex).
//     A note of a taken-over copy's recipient finished here (bucket
//     takendone, takendone.go: delivered, relayed out of the organisation
//     (by MX, or through a smart host no server of it), failed; or its
//     delay DSN made) is written by the commit of the attempt's results
//     that finishes it (of the notice, by the notice's own commit while a
//     job hangs: noticecommit.go), keyed by the database id the copy was
//     taken over under (any kind of takeover, takenindex.go); the returning primary that presented that id marks its
//     originals' recipients done without a DSN in one commit before its
//     next command, and only that command makes this server forget the
//     notes: a crash of either leaves the note to be told again, and
//     telling it again changes nothing there (the recipient is no longer
//     pending). The notes of a record in delivery at the primary are
//     kept there (bucket takendonewait, takendonewait.go) in that same
//     commit, so the holder's forgetting them after the next command
//     loses nothing; a later batch of that holder's applies them once
//     the attempt has committed (one writer). The records a batch names
//     are found by index (orgids; shadowids, shadowidindex.go, kept by
//     Tx.Put/Tx.Delete like orgids and checked against the records by
//     every Open in the pass that checks takenby), never by a walk. That commit removes an original left with none pending
//     only when it keeps no shadow copy for another primary (a recipient
//     Shadowed: it stays as that copy, which that primary counts), and
//     writes the discards the settled recipients owe (copySettled), so
//     a crash leaves the original and its copies, or the discards with
//     it. Only recipients finished for good here are noted — not
//     one handed to a transport server while that server holds it (the
//     primary itself may have merged it into its original, which still
//     owes it), nor one relayed through a smart host — so a note never
//     drops a recipient that still needs delivering: at worst it is not
//     written, and the primary sends its own DSN as before. A recipient
//     handed to another transport server X in a shadow session is noted
//     once X's discard settles the copy kept for X here (takenhanded.go,
//     rt26a): the commit that hands it on, which drops the primary's
//     takenby entry, writes the handed note (bucket takenhanded: X, X's
//     shadow id, address, the primary's database id → that id, the
//     primary's shadow id, address, the primary's name; a recipient
//     taken back from X and handed on again carries its notes to the
//     new copy in that same commit, but for the notes for the server it
//     is handed to, which that commit deletes), and the commit that
//     applies X's discard (whole, partial, or kept aside:
//     applyEarlyDiscards) turns it into the takendone note and deletes
//     it: a crash leaves the handed note (the discard is told again: X
//     forgets it only once this server has it) or the takendone note,
//     never the recipient settled here and unnoted. Not for a copy
//     handed to the primary itself, at any link of a chain. While the
//     handed note is kept, the primary that presented its database hears
//     the recipient as "TAKEN" (TakenHandedFor: read from the note,
//     nothing written here) and marks it done without a DSN in one
//     commit before its next command, as for the notes: a crash of
//     either side asks again, and telling again changes nothing. The
//     recipient is then owed by X alone, whose copy stays shadowed here
//     (the primary's discard of its own copy names its id, not X's, and
//     settles nothing here): X's failure makes this server take it over
//     again, a failure of this server leaves X its own copy.
//     A held note (heldnote.go: a taken-over copy the administrator held
//     here when it was given back) is written by the give-back's commit;
//     the primary that presented the database suspends its original in
//     one commit before its next command (the hold's discard of the copy
//     given back with it), and only that command forgets the note: a
//     crash of either tells it again, and a suspended original does not
//     change for it.
//     An original kept back because its taken-over copy is in delivery
//     on its holder (takenbusy.go: bucket takenbusy, shadow verbs 21)
//     is one commit: the entry and the record's NextAttempt together; the
//     claim skips it while the entry stands. A crash of the primary
//     before that commit leaves it due, and the start's probe asks again
//     before the first claim; after it, the entry outlives the restart.
//     A crash of the holder ends its attempt: the copy, taken over and
//     due again there, is given back by the primary's next session (its
//     XSHADOW's commit, before the question), or is in delivery again
//     (named again), or was finished (noted in that attempt's commit):
//     the primary ends the entry only on a complete answer, after
//     applying its notes, so an original is released only once its copy
//     is given back or done there — every copy: the entry lists each
//     server that said BUSY of it, and each complete answer without the
//     line takes only that server off. The holder reads its copies in
//     delivery before its notes (package smtp), so a commit of the
//     attempt landing while it answers leaves the copy named by one of
//     the two; and the server the entry names keeps speaking for the
//     original under its org id when a copy was made again elsewhere
//     since (Tx.formerHolder: a push a stop cut short, made again), so
//     the answer that lists it still names it. Unanswered, the entry ends at the
//     claim once its bound (data_timeout + 2 command timeouts, or two
//     heartbeat timeouts, the probes' interval, if longer) passed:
//     delivered, a duplicate at worst.
//     A database restored from a backup (takenover.go) keeps the id it
//     was restored from in the commit of its first start (meta
//     restored_from); the recipients its holders say they took over from
//     that database and keep ("TAKEN", shadow verbs 22) are marked done
//     here without a DSN in one commit before the probe's next command,
//     as the notes are: a crash of either side asks again, and telling
//     again changes nothing. The holder's copy, taken over under the old
//     id, is settled by nothing the new database says (takenUnderOther)
//     and never given back: it is delivered once, from there.
//     A restored database also settles the recipients of its shadow
//     copies that its predecessor handed to a transport server in a
//     shadow session that still holds or finished them (the TAKEN lines
//     of its copy ids, restoredhanded.go) in one commit before the
//     probe's next command; the answering server writes nothing. The
//     same commit notes each settled recipient for the copy's primary,
//     under its database as recorded here, as relayed elsewhere
//     (noteHandedForPrimary): the primary, back with that database, is
//     told and does not send its original. A crash of either asks again
//     (the restored database's takeovers wait for the answers afresh at
//     each start, bounded), and telling again finds nothing left to
//     settle. A copy of the backup's taken over by any path waits in the
//     claim (restoredTakeoverHeld: its next attempt set to the bound, in
//     the claim's commit) and is made due when the answers are in; a
//     crash in between leaves it due at the last start's bound at the
//     latest, and the next start's claim keeps it back again while that
//     start waits. The wait is a span of the monotonic clock from the
//     start (a wall-clock step neither lengthens nor shortens it); the
//     next attempt it stores is what is left of it on the wall clock of
//     the claim, moved by a later step as every stored time is.
//     Which servers answered whole is kept (meta restored_answered) in
//     a commit of its own after the ones that applied the answer: a
//     crash before it asks that server again, never drops an answer
//     not applied; once every transport server of the topology is
//     kept, a start neither asks nor waits. The first start of a
//     database restored again clears it in its restore commit.
//     While it waits, a primary asking this holder hears each copy of
//     the backup's held for it as BUSY (restoredBusyFor): read-only, no
//     state here; the primary's keeping back is its own bounded
//     takenbusy entry, so a crash of either side only ends or renews
//     that wait.
//     A mark that makes a message held by this server only (putMark)
//     leaves a single-copy tracking event after its commit
//     (singleevent.go; copy-unconfirmed for a mark whose copy may exist
//     on a server its push got no confirmation from): read from the
//     committed mark, once per mark; a
//     crash between the commit and the event loses the event, never the
//     mark.
//     An operator's hold and its discard notification are one commit
//     (hold.go): after a crash the message is held and its copy owed a
//     discard, or neither; the copy goes only when the shadow server
//     provably has the notification, as for any discard. A crash of
//     this server before the shadow server fetched it, outlasting the
//     takeover delay, lets the takeover deliver the held message (its
//     copy, handed back here, merges into the held record instead).
//     Whose shadow sessions the receive side refuses (bucket refusedhere,
//     refusedhere.go) is no message's state: a commit of its own per
//     change of the refusal state (a server removed from the topology:
//     its record deleted at the start or the reload that removes it);
//     a crash before it returned leaves it unrecorded, and that
//     server's next session records it again (a deletion not done is
//     done again at the next start).
//     Where each shadow server was last reached (bucket holderaddrs,
//     holderaddr.go) is no message's state either: a commit of its own
//     per change of address; a crash before it returned leaves the old
//     record (or none) until the next copy session or holders' pass
//     records it — meanwhile a holder the topology no longer lists gets
//     its owed discards at the old address, or none pushed (kept until
//     its expiry, as before the record).
//     Which primaries a completed session proved to advertise no
//     database digest (bucket digestless, digestless.go) is no
//     message's state either: a commit of its own per change; a crash
//     before it returned leaves it unrecorded until that primary's next
//     completed session (meanwhile its refusals without a digest count
//     as failed heartbeats, as before the record).
//     A shadow server unreachable for the takeover bound
//     (holderunreached.go) has the messages whose copy it holds marked
//     in one commit, naming it among the servers that may hold the copy:
//     the commit that names the copy made again writes its discard
//     (nameCopyHolder), so a crash leaves either the mark (the next pass
//     makes the copy) or the new holder and the old one's discard.
//     A shadow server's new database id (holders.go) is recorded in the
//     commit that marks the messages whose copies it lost (singlecopy;
//     a copy made there while its message was in delivery included,
//     forgetHeldOn):
//     after a crash both are written or neither, and a neither is found
//     again at the next session with that server. The holder of such a
//     copy, which the record names only after the attempt, is probed
//     as a record's holder is (ShadowHolders, heldholders.go) — and so
//     is every server a mark keeps as one a copy was pushed to without
//     confirmation: it may take its copy over while this server is
//     down, so the start and the holders' pass ask it what it finished
//     (receipt42 item 1) —, and a
//     removal of that copy told by its holder marks the message in the
//     commit that records the answer (dropHeldOn): the loss is found
//     during the attempt, not after it. That commit comes
//     before any commit naming the server under its new id: sessions
//     this server opens record the id before a copy's commit, and a
//     relay's shadow session presents it at XSHADOW, recorded before the
//     session's first message (smtp HolderRecorder) — so no copy held
//     under the new database is marked lost. An id kept as another
//     server's (peerdbs, a retired one too) is refused in that commit by
//     the one check (databaseOfAnotherTx): nothing recorded or marked. A copy made again is
//     durable at its holder before the commit that names it in the
//     record and drops the mark; a crash between the two leaves the mark
//     (the copy is pushed again: a holder keeps one per org id — a
//     copy it relayed here itself and kept through a restore included,
//     which the push's commit files under the org id while the relay's
//     shadow id still settles it, so the crash leaves the record named
//     by either id the primary may send, never a second copy — and a
//     copy no record here names is done with at its question,
//     XQUERYHELD) — the
//     record never names a holder that has not stored the copy because
//     of this path. An Active message's record is not rewritten: its
//     copy is made again all the same (a message whose route hangs is
//     in delivery most of the time, rt18b F1), and the commit that
//     records it keeps the holder in the mark (heldPrefix) instead of
//     naming it in the record; a crash after it leaves the mark with
//     the holder (named, without a second push, by the first listing
//     of the marks — SingleCopies, each pass — after the attempt), and
//     the attempt's commit owes that holder what it
//     finished — the discard when the message is done (settleSingleMark
//     at every finished message, not only one given back; carried by its
//     failure DSN when that commit makes one, "DSNs and shadow copies"), a partial
//     discard otherwise — in the same commit. Every delete of a record
//     settles its mark so (Tx.Delete: an attempt's end, an operator's
//     removal or bounce, a discard), and an operator's hold writes the
//     same discards and keeps the mark (settleMarkHolders) — and
//     CopyOnRelease, in the same commit, so that its release marks it
//     again though a listing of the marks drops the mark of the held
//     message meanwhile: no server
//     the mark names keeps a copy of mail this server ended or holds. A message
//     accepted with no shadow copy (no shadow server took a session at
//     receipt, Message.NoCopy) is marked in the commit that stores it:
//     no crash leaves it on one disk unmarked; one quarantined on
//     receipt (no copy while the quarantine holds it) stores
//     CopyOnRelease instead, and the commit that releases it marks it
//     (markReleasedSingle; a copy the hold or the quarantine discarded
//     is marked as such, HowHeld or HowQuarantined, for the views). A shadow copy taken over, by any path, is
//     marked in the commit that writes its first taken-over recipient
//     (Tx.Put, takensingle.go): no crash leaves a taken-over message on
//     one disk unmarked (rt55 F1); the mark keeps what befell the copy
//     through a refusal and an unconfirmed push (withHow). The copy made
//     again is named in the record by ShadowRecopied's commit as above,
//     and every commit that settles recipients of the record other than
//     by its attempt's results — a primary's discard, full or partial,
//     or one kept aside while it was in delivery, a quarantine that
//     absorbs them, a give-back, which also drops the mark — writes the
//     discard (whole or partial) of that copy, and of a push not
//     confirmed, in the same commit (copySettled): a crash leaves the
//     recipients unsettled and the copy held, or both settled; never a
//     copy elsewhere that no record here names and no discard settles,
//     which that server would take over and deliver a second time. A
//     message marked held by this server only counts as kept by no
//     shadow server for db restore (LostByRestore), whatever server its
//     record names. Marked likewise, where this server makes shadow
//     copies (Store.SetShadowCopies), is every message entering the queue with
//     no copy elsewhere — a dumpster redelivery, a pickup file
//     (Message.EntersAlone), a DSN or report written here: one helper,
//     MarkEnteredSingle (enteredsingle.go), in the commit that stores it.
//     A push this server did not
//     see confirmed (it broke, or was abandoned at its bound while the
//     shadow server hung) may still be committed there — the server reads
//     what was sent when it runs again. When this server's close is in
//     the shadow server's socket by the time it has committed the copy
//     (it ran again after the bound), that server withdraws the copy in
//     a commit of its own before answering (WithdrawShadowCopies,
//     copywithdraw.go; smtp pushgiveup.go, rt20a-F1): a FIN before the
//     answer means no answer was read, so this server counts the copy
//     unconfirmed whatever that server does, and removing it there loses
//     nothing this server relies on; a crash between the two commits
//     keeps the copy, as before. But a 250 written in the same instant
//     as this server's close, or a session broken after it was written,
//     cannot be told apart there: dropping such a copy on its side would
//     not be sound. So this server keeps that server in the message's mark as one that may
//     hold the copy (MarkSingleCopy, RecopyPushing), and the commit
//     that makes the copy on another server (ShadowRecopied) adds the
//     discard of the unconfirmed one — kept there as an early discard
//     when it comes before the copy, so the copy is never stored; that
//     commit writes it also for a message in delivery, whose record the
//     attempt's commit names the new holder in later (unconfirmedheld.go,
//     rt19f-F1: else the loss of this disk during a hung attempt leaves
//     two copies that are both taken over) — while
//     a message that stays marked keeps naming the first server in its
//     record, which its completion sends the discard to. A crash before
//     the push's outcome is recorded leaves the note the commit wrote of
//     the push in flight (bucket receiptpush, pushcrash.go): Recover
//     marks the message held by this server only, the named server kept
//     as one that may hold the copy (its reason says a copy may exist
//     there, HowPushCut, as a push that got no reply says, HowNoReply:
//     rcpt47 item 1), and the copy is made again (rt55 F4); a confirmed push's note goes with the next commit, so a crash
//     in between costs only a copy made again. A push the server answered with a reply at
//     any step (452 4.3.1 from a full disk, any 4xx or 5xx, a 421 at
//     MAIL, RCPT, DATA or the data's end included: receipt42 item 2)
//     was not stored there: a shadow server answers 250 only after the
//     commit that keeps the copy, and any other reply ends the copy's
//     transaction with nothing kept. Nor was a push whose session was
//     lost before any byte of the copy's data was written to it (an EOF
//     or a reset at MAIL, at RCPT, or at DATA before its 354: smtp
//     Client.DataSent, rcpt43 item 2): that server read no copy, so it
//     can store none; a copy pushed in one trip or in a batch goes in
//     the envelope's write and stays on the safe side whatever step was
//     cut. So the mark keeps the reply for the
//     views (MarkSingleCopy's refused, RecopyRefused) and not that
//     server among those that may hold the copy: it gets no discard —
//     but for a copy made again, whose push is preceded by a commit
//     (RecopyPushing) that keeps the server among them (a crash before
//     the outcome leaves it there: it gets the discard, which it answers
//     "no copy held"; after an answered push RecopyKeptNothing takes it
//     out again, unless it may hold a copy from before — the record's
//     holder, an earlier unconfirmed push, a discard owed: delivery
//     mayHoldBefore) and withdraws the discard of that
//     copy owed to it and not fetched yet (fetched after the push
//     stored the new copy, it would drop it) — under the org id, and,
//     when that server is the one the record names and its copy there
//     has another id (a relay's, kept in a shadow session, which the
//     server folds the push into: foldIntoRelayed), under that id too.
//     The withdrawn discard of that other id is written again, in the
//     commit, by every end of the mark that does not leave the copy on
//     that server (nameCopyHolder naming another, settleSingleMark and
//     settleMarkHolders through discardPushed): the server stays in the
//     pushed list, so a crash after the withdrawal loses neither that
//     discard (a copy kept for ever, taken over: a duplicate) nor keeps
//     it owed once the record names the copy there (this loss). The copy
//     is made on the next candidate at once — within the receipt, its
//     first attempt under way or not, or by the next pass — through the
//     same ShadowRecopied commit as above.
//     Rollback marks (marks.go): a shadow server's counter is raised in
//     the commit that names it (PutNew) or durably before a copy made
//     again is pushed (RecopyPushing), so it never goes down with this
//     database id; what is presented is read from committed state. On
//     the shadow server, the highest mark seen is raised in the commit
//     that keeps the copies it came with, and a lower one found takes
//     the copies over in the commit that records it: after a crash the
//     takeover and the new mark are both there or neither (the next
//     presentation finds it again).
//     The counter is kept per shadow server database (its recorded id),
//     started from the counters it replaces in the commit that first
//     raises it (or, for a new id of the server, in the commit recording
//     that id), so no name the server is given presents less than it saw.
//     A shadow copy an operator removes (RemoveMessageForce) is noted
//     for its primary (bucket dropped: primary ‖ copy id) in the commit
//     that deletes it (droppedcopy.go): after a crash the copy is there
//     or the note is. The primary's commit that marks the messages of
//     the notes held by it only comes before its next command, and the
//     note goes only after that command (SR-15): a crash of either side
//     in between leaves the note, told again at the next probe, and a
//     message marked already is not marked twice. From the mark on, the
//     copy is made again as for a holder's lost database (above).
//     An answer to XQUERYKEPT (keptcopy.go) is recorded in one commit:
//     its new keptmissing entries, the entries it deletes (ids answered
//     kept, and ids no pending record names any more) and the marks of
//     the messages missing from it and from an answer a probe interval
//     before. Killed before that commit, nothing of the answer is kept:
//     the next probe asks again and its answer counts as a first one (a
//     delay of one interval; the copies were already lost, nothing more
//     is). Killed after it, the entries and marks stand; a marked
//     message's copy is made again by the pass after the start, as for
//     any mark, and its entry is gone, so it is not marked twice. The
//     holder writes nothing for the question, so a kill -9 of it at any
//     moment changes nothing but the answer's arrival. A question of a
//     push a stop cut short (receiptpushasked) left unanswered past the
//     takeover bound (expirePushAsked, counted from the start that
//     asked it) is ended in one commit with its mark (push cut, the
//     server one that may hold the copy): killed before it, the entry
//     stands and the next start's bound asks it again; after it, the
//     mark stands and the copy is made again, its server owed the
//     discard.
//  7. Spool files (large bodies: body.go, spoolref.go). A spooled body is
//     a file in <data_dir>/spool/ plus, in the database, its head and a
//     reference (file name, offset, length) with a per-file reference
//     count. (a) SpoolFile.Finish appends the CRC-32C of the file's bytes
//     (checksum.go), then fdatasyncs the file and fsyncs the
//     spool directory before any commit names it, so the checksum is as
//     durable as the data it covers; (b) the commit that
//     stores the record adds the reference and the count; the 250 follows
//     that commit (point 1); (c) the commit that drops a reference (the
//     message done, a dumpster copy evicted) lowers the count in the same
//     transaction, and the file is removed only after the commit that
//     dropped the last one returned — a crash in between leaves a file no
//     count names, and a removal that fails is logged, counted and
//     retried every minute while no count names the file
//     (spoolstats.go); (d) Open removes every file in the spool directory that
//     no count names, before Open returns and anything is
//     served. So a crash anywhere leaves either the message whole (record
//     committed, file durable by (a)) or no 250 and an orphan file, which
//     (d) removes; never a record naming a missing or partial file, and
//     never a file removed while a record names it. Several records may
//     name one file (a dumpster copy, its resubmission): each adds to the
//     count in its own commit, and a move adds the new reference before
//     it drops the old. A record whose file is missing anyway (a data
//     directory copied without spool/) is reported at Open (MissingSpool);
//     Start moves every message waiting for delivery (ready) whose file is
//     missing or shorter than its record to the poison queue with the
//     reason, before anything is claimed (spoolcheck.go); a message in
//     another state keeps it and is held as poison at its first attempt;
//     a dumpster copy without its content is skipped by redelivery. None
//     is ever delivered truncated. A file cut (or removed) while it is read is
//     not delivered truncated either: every reader of a spool file
//     (Body.Reader, Bytes, ReadHeaderSection) yields exactly the length
//     the record names or an error wrapping ErrBodyUnreadable (a short
//     file: ErrSpoolShort), never an early EOF, and stops at that length
//     when the file grew; every consumer takes that error as a failed
//     transfer (SMTP/LMTP: the connection closed without the final ".";
//     Maildir: the tmp file never linked into new/; a push on receipt
//     refused; an export an error), and the attempt that saw the file
//     short holds the message as poison, "body unreadable"
//     (Manager.complete), after committing the recipients it reached
//     whole. A byte changed in the file, its length unchanged, is the
//     same: the claim reads the whole file against its checksum before
//     any byte goes out (loadBody, Body.verifySpool), and every reader
//     reports the end of the content only once the checksum matched, or
//     an error wrapping ErrBodyUnreadable and ErrBodyChecksum instead —
//     so a body changed on disk is never delivered, relayed, exported,
//     resubmitted from the dumpster or carried into a backup, and the
//     message is given to the holder of a sound copy (poisonUnreadable).
//     The bytes of a body held in the database (a small body, a spooled
//     one's head) have their CRC-32C in bodysums, put and deleted with
//     the value in its commit (bodysum.go: a crash leaves both or
//     neither), and the same readers check it before their first byte.
//     A file or body of an older release (no checksum) is read unchecked;
//     a body whose record says it was stored with one (BodySummed, set
//     in that commit) and whose entry is gone is unreadable (its
//     checksum is missing), never read unchecked. A backup carries spooled bodies in pieces of 1 MiB, each
//     copied from its file and written a piece at a time (spoolbackup.go;
//     no step of a backup, its check or its restore holds a body whole);
//     Compact keeps the references and the files.
//     Restore writes a backup's pieced bodies into spool files again, and
//     Restore and CompactSpooling move every body stored whole over the
//     spool threshold into a spool file again (restorespool.go) on their
//     copy, by (a) and (b): each file, its CRC-32C appended as (a) does,
//     fdatasync'd and its directory
//     fsync'd before the copy's commit names it, and the copy takes the
//     database's name only after; a crash before leaves files no record
//     counts (Compact's, in spool/: swept by (d)) or a staging directory
//     spool.restore beside an unreplaced database (removed at the next
//     Open or restore, and logged); a crash after leaves the restored
//     file with its backup mark, whose first Open makes spool.restore the
//     spool directory before the mark goes. The mark alone does not tell
//     which: a database an earlier restore finished carries it too until
//     its first start, and a second restore killed before its rename
//     leaves its spool.restore beside it (rt31c F1). So each restore
//     writes an id of its own, synced, into its copy's meta (restore_id)
//     and into spool.restore/.restore-id before the rename
//     (markRestoreIn), and Open installs spool.restore only when the two
//     are the same (ownStaging, by the ids alone: a backup taken with
//     SkipUnreadable keeps the names of damaged bodies that may still be
//     in spool/; with no id on either side, an earlier release's restore,
//     only when the database names no file in spool/ — a restored copy
//     has every spooled body in its staging directory); else
//     spool.restore is the unreplaced restore's, removed, and the live
//     spool stays. The marker goes with the directory and is
//     removed once it is in place (a crash before: the sweep (d)
//     removes it from spool/), and the id leaves meta with the backup mark
//     (restoreIdentity). A restore that finds the database in place so
//     waiting for its spool.restore finishes that install first
//     (finishKilledRestoreIn, under its side lock), before it removes a
//     staging directory as a leftover; one that staged nothing has its
//     replaced spool directory moved aside under its recorded suffix
//     first (finishKilledSpoolAsideIn), as its Open would — under a free
//     name when that suffix's is taken (freeSpoolAside: left in place, a
//     compaction would write into it and record it as the restored
//     database's, and the start would sweep the replaced bodies). Restore checks the backup's
//     checksums before it moves anything. Whether a restored database
//     owns spool/ is decided by what its restore recorded beside
//     restore_id (restore_staged, markRestoreIn; restoreStaged), never
//     by the names its records keep: one that staged nothing never owns
//     it — a SkipUnreadable backup keeps the reference of a damaged body
//     whose file may still be in the replaced spool —, so Open and
//     finishKilledSpoolAsideIn move that spool aside whatever it names;
//     one that staged owns it once spool.restore is in place (before it,
//     ownStaging installs it). The suffix file alone tells nothing: a
//     restore killed after spool-installed leaves it too, with spool/
//     its own. A compaction before the first start first finishes a
//     restore killed after its rename (finishKilledRestoreIn), and when
//     it puts bodies of a database that staged nothing into spool/ it
//     records restore_staged "1" in its copy: those files are the
//     database's own. Only a database with no restore_staged record
//     (new, restored by an earlier release or by the build that wrote
//     restore_id alone) is judged by the names. A database made or
//     restored by this Open that does not own spool/ does not sweep it:
//     the files it finds are the replaced database's, moved aside with it as
//     spool.replaced-TIME — the replaced database's own suffix: Restore
//     writes it, synced, to path.restore-suffix before its rename, and
//     the Open that finishes a restore killed after the rename moves the
//     spool directory aside (or installs spool.restore) with it, says so
//     (RestoreFinished), and removes the file; an Open of an unreplaced
//     database removes it as a leftover.
//  8. Bodies in buckets of their own (bodyalone.go, schema version 4). A
//     body longer than bodyAloneMin is the one value of a bucket of its
//     own under its key in bodies (or dumpbodies), so that no commit
//     writes a body but the ones it puts. The bucket is created, and
//     deleted, in the same transaction as the record that names it (Tx.PutNew,
//     Tx.Delete, DumpsterPut, DumpsterDelete, a re-keyed dumpster copy),
//     so point 2 covers it: after a crash a record has its body in one
//     form or the other, never none and never half. A version-3 file is
//     upgraded in the transaction that opens it by its version number
//     alone, before any body is written: a crash before that commit
//     leaves a version-3 file holding only value-form bodies, which every
//     release reads; after it, a release of version 3 refuses the file at
//     start (ErrNewerSchema there) instead of finding a body missing.
//     What an upgrade means for the operator is worded in one place
//     (UpgradeNote): the start that upgrades logs it (Store.LogUpgrade,
//     or Open itself given Options.Log), and the commands that read an
//     older file without upgrading it print it (SchemaOf).
//     The way back is CompactTo(…, 3) (`umbra db compact --schema 3`,
//     server stopped): on the compaction's copy every bucket-form body
//     becomes a value again, and the copy takes the database's name only
//     whole and fsync'd, so a crash leaves the version-4 file or the
//     version-3 one.
//  9. Damaged records (damaged.go). The points above assume the disk
//     gives back what was committed. When it does not — bytes of a
//     message record overwritten, its page otherwise whole, or one byte
//     changed that still decodes: every record carries a CRC-32C of its
//     bytes in the same value, written by the same Put (checksum.go), and
//     one whose checksum fails does not decode — the record
//     is set aside, not delivered, and nothing else is held back: the
//     Open pass over every record (and the claim, for damage Open did
//     not see) moves its bytes as found to the bucket damaged and drops
//     its index entries but its queue damaged entry, in one commit, so a
//     crash leaves the record in messages (found again at the next Open)
//     or set aside, never lost from both. Its body and spool reference
//     stay until the operator's message remove; nothing but remove and
//     export acts on it. What cannot be decoded is never delivered from
//     that record: the mail it held is lost here unless a backup has it
//     (its body stays, for message export), unless the record's head
//     still decodes and names a sound shadow copy on another server:
//     the commit that sets it aside gives the message to that holder
//     (damaged.go, handback.go), which takes the copy over and
//     delivers it. With the head damaged too, nothing names the copy. A damaged page
//     (element headers, a branch, keys out of order) stops Open instead,
//     naming the page (pagewalk.go): no record of it can be trusted. The
//     walk runs before bbolt opens the file for writing (and in db verify
//     and a restore): bbolt's own walk at such an open reports a key out
//     of order by a panic in a goroutine of its own, which kills the
//     process.
//
// A spooled body is never read whole by the queue: the scheduler loads
// its head and reference (Tx.BodyOf) and a BodyDeliverer streams it; a
// DSN of it (BuildDSNBody) returns its header section unless RET=FULL
// and it fits in the bounce size limit.
//
// DSNs (dsn.go) are RFC 3464 reports. The original content they return
// is bounded by ManagerConfig.BounceSizeLimit (bounce_size_limit): a
// RET=FULL message over it comes back as its headers only, and a header
// section over it is cut at a field boundary, so no sender can make umbra
// reflect more than that of its own text to a (forged) address. A DSN
// returning the whole message that the way back refuses as too big is
// made again with the headers only, in the commit that fails it, and
// carries what the first carried (dsnrefit.go). RET=FULL
// asks for the content in a failure report only (RFC 3461 §4.3), and a
// REQUIRETLS message's report returns its headers whatever RET says: a
// report that returns headers only to a RET=FULL sender says why in its
// text, whatever the reason (retFullNote).
//
// A DSN often leaves the organisation, so none shows what is the
// organisation's own (dsn.go): no X-Umbra- field (none is written, and
// the returned content has them removed) and never the organisation
// message id, even where a quoted reply named it (sendable). Replies are
// what DSNs quote, so delivery writes the detail the sender must not see
// (a duplicate found in the mailbox: that is a delivery to the sender)
// into Result.Note, which the tracking log reads instead (Result.detail).
//
// No line of a DSN exceeds 998 octets (dsnlines.go): a RET=FULL message
// with a longer line returns its headers; a longer header or report
// line is folded at white space, else cut with a note.
//
// A DSN is 7-bit and not marked SMTPUTF8 (dsn7bit.go), whatever the
// original was, so it reaches the sender over any hop that carries 7-bit
// mail — the hop the original failed on for want of 8BITMIME or SMTPUTF8
// may be the only one: 8-bit content comes back as its headers only,
// non-ASCII text fields RFC 2047-encoded and other non-ASCII fields left
// out (named in the human-readable part), non-ASCII addresses as RFC
// 6533 utf-8 xtext. Only a DSN to a sender address that is not ASCII is
// SMTPUTF8 (DSNNeedsSMTPUTF8; RFC 6533 global types). A DSN of this
// server's that fails is a lost bounce: finish logs it at WARN and emits
// the bounce-lost event (metrics and tracking count it).
//
// A recipient's Remote-MTA names the MTA that reported its status (RFC
// 3464 §2.3.5; dsnReporter): the host whose answer is quoted — its reply,
// or its EHLO answer without 8BITMIME, SMTPUTF8 or REQUIRETLS — and none
// when umbra decided alone (null MX, a domain or MX host without address,
// a route or connector, a TLS policy before any session, a host that did
// not answer, the operator's removal) or the host is the organisation's:
// a route inside it, an operator's redirect, or what Policy.Inside says —
// without a topology the daemon fills it from its configuration: the
// hosts that take mail for its authoritative and internal_relay domains
// (an edge's smart host for them is a hub), and the smart hosts of its
// send_xshadow connectors (Inside.Hop).
// Its Diagnostic-Code is that MTA's own reply, of type smtp, and a DSN
// has one only then (remoteDiagnostic): umbra's own reasons — a hold, a
// removal, a quarantine, a host that did not answer, a route, a slot not
// free, the stop, an expiry — are said by the Status and the text part,
// never in a Diagnostic-Code (sched31 D3: "X-Umbra; 452 4.3.2 queue …
// suspended" read as a server's refusal). An expiry's Diagnostic-Code
// is the remote reply it last had, if any, its text part umbra's words
// on the expiry with that reply.
// A deferral of a session whose opening the host answered with a
// refusal (delivery's "451 4.4.2 greeting from HOST: 421 …", "… reply to
// EHLO from HOST: …", "451 4.7.0 authentication to HOST failed: …") is
// reported as that host's reply (openingHostReply): Remote-MTA the host,
// Diagnostic-Code smtp, its status where of the DSN's class. So is a
// STARTTLS the host refused where TLS is required ("451 4.7.5 HOST:
// STARTTLS refused: 454 …", also inside a REQUIRETLS deferral's words);
// a failed handshake has no reply and stays umbra's. A server of the
// organisation (a hub, its hop "name[ip:port]") is quoted the same way,
// never named as Remote-MTA.
// To a sender outside the organisation (Inside.Sender: not of an
// authoritative or internal_relay domain) a DSN quotes whole only a reply it names a
// Remote-MTA for; umbra's own diagnostics and the replies of the
// organisation's servers, which can name its hosts, addresses, spool
// and socket paths, queues and connectors, are given as reply code,
// enhanced status code (both as the server gave them, whatever their
// classes: describedReply) and reason (shownReply, dsnown.go), in
// the text part and, for a server's reply, its Diagnostic-Code — but for umbra's own words
// that name nothing but this server (plainOwnTexts: an operator's
// removal, a quarantine's end, a next hop's want of SMTPUTF8,
// utf8reply.go), quoted whole, so the DSN, tracking and the log say
// one text. Tracking and the log keep
// the whole text. This reads what delivery writes (Result.NextHop: a host tried as
// name[address]:port, else where umbra decided; umbra's words about a
// host name it), so the record format is unchanged.
//
// Group commit: a writer's function may run twice (once in a shared
// transaction that another writer's error aborted, once alone), so it must
// have no effect outside the transaction — nor on the values it reads and
// writes back: an attempt's results' function changes the message in
// memory as it goes (discards kept aside settle recipients), so each run
// starts again from the message as the attempt left it (finish; the
// other ways out of delivery — requeue, poison, a hold — alike:
// rerunnable); a run
// that saw the failed run's changes took the recipients for settled
// already and wrote none of the notes the failed run had written
// (takenhanded.go, takendone.go). UnsafeNoSync exists for tests
// that measure something other than durability.
//
// A DSN about a recipient whose next hop took the whole message and
// never answered its end (delivery's words: "timed out after …
// waiting for the reply to the end of the message", "unreadable reply
// to the end of the message", or a connection lost after the dot;
// MayHaveArrived) tells the sender that the next hop
// may already have it (RFC 1047): the message is sent again, and may
// arrive twice, or although a failure DSN says it was not delivered
// (dsn.go unansweredNote).
//
// Server names are folded one way (holderfold.go): every record kept per
// shadow server of this server's messages — its database id
// (shadowholders), the name it stated (holderstated), its rollback
// counter and alias (holdermarks), the notifications owed to it
// (discards, partialdiscards, handback), its taken-done notes kept aside
// (takendonewait), the copies it holds that an original here carries
// (carriedcopies: its question, XQUERYHELD, finds them held under any
// spelling it asks as or the copy was relayed under) — and the early
// discards by primary (early) are keyed
// by mailaddr.NameKey of the name (letter case, a final dot, an
// internationalised label as A-label or U-label are one server), and
// names are compared so (sameServer). A database a release before wrote
// (keys lower-cased only, one record per spelling) is folded at Open in
// Open's one transaction, each bucket merged by what it means (the
// highest counter, one database id per holder — a kept id that is not
// the holder's current one makes its copies again at its next session,
// the side that loses nothing — every notification owed, the later
// stamp of two): a crash midway leaves the file as it was, the next
// Open folds again, and a folded file folds to itself. An alias a
// release before kept under one spelling (it dialled another server's
// database) does not stay the name's when its folded name has a
// database id of its own, another (recorded under another spelling, or
// under its own while the alias is not under the folded key): the alias
// wins over the name's own id, and the name's server would lose its
// notifications to that database's server. It goes, and what was filed
// under its spelling (copies made in that database) goes under the name
// of the server recorded with that database, or goes when none is
// (foldAliasOfOwned), and the message records naming the spelling as
// their copy's holder are rewritten to name that server (a poison
// message's given-back entry stays found by its record), as is every
// other record naming a copy's holder by the spelling (pointNotesAt): a
// failure DSN's reported copies (dsnreported: its original's end still
// finds it to carry the discard), the single-copy marks' servers (the
// discards of pushed and held copies go to the server holding them),
// the pushes in flight (receiptpush), the recipients finished
// (finished), the copies an original carries (carriedcopies: the
// holder's question finds them held while the original is here, and
// the original's end owes their discard to that server, not to the
// spelling's), and a damaged record given back (its bytes stay as found,
// the holder is kept beside them) — in the same
// transaction, each moved entry under a folded key, each record naming
// a folded name: a second Open finds nothing to move. So too an alias
// spelling of a name with no id of its own whose database is not the one
// the name keeps as its alias. An alias of a database recorded under
// another spelling of the name itself (one the fold did not keep) is the
// name's: what was filed under it stays the name's. The ids of every
// spelling before the fold decide both.
//
// On the holder side, a primary is folded the same way (primaryfold.go):
// a recipient's Primary and its shadow queue (shadow:NAME) are written
// folded (Tx.Put), as are the attempt results naming the next hop that
// took a copy (the topology's spelling); the peer record, its takeover
// count, the taken-over index, the early takeovers, the database ids and
// their order, the copies folded into a relay, the notes of taken-over
// copies handed to it (takenhanded: its discard turns them into the
// first primary's takendone notes), the disowned and
// digestless marks and a shadow queue's suspension are keyed by the
// folded name, and every entry point taking a primary's name folds it
// first. A discard, a heartbeat, a takeover or a give-back under any
// spelling finds every copy of that primary: a copy kept under another
// spelling than the one its primary states would outlive the primary's
// discard and be delivered again at a takeover. A database a release
// before wrote is folded at Open, in the same transaction (the records
// its shadow queues and taken-over index list under another spelling
// read and written back, every index following — the poison and
// quarantined ones, indexed there only, read once, by the first open
// of this release (meta primary_names_done); two peer records of
// one primary merged, the later contact's with the most failures and
// either's takeover); a folded file folds to itself.
package queue
