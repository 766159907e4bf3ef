// Package shadow is the shadow-server half of shadow redundancy (SPEC SR-3,
// SR-5, SR-6, SR-7, SR-13, SR-16): for every primary this server holds
// shadow copies for, it decides whether a heartbeat is due, when to take
// over and when to resubmit. It is logic over interfaces — the queue
// (Store) keeps the copies and each primary's state, the delivery code
// (Heartbeater, Watcher) speaks SMTP, the scheduler (Runner) runs the
// sessions and says when to look — with time from an injected clock, so
// 3 × 300 s is tested in microseconds.
//
// Who decides what: the Manager is a client of the scheduler in package
// queue (queue.Client): the scheduler calls Step on its own loop — when
// Step asked to be called again (a quarter of the heartbeat timeout, at
// most a second), at once when a sender starts waiting on a primary,
// at once after the clock stepped back — and Step reads the stored
// state, decides which heartbeats are due and starts each with
// Runner.StartTask as a task of the primary's destination
// (HeartbeatDest+primary, window 1: one heartbeat per primary at a time;
// WatchDest+primary for watch sessions, window 1). The Manager has no
// timing loop of its own. What sessions learn is recorded by a Recorder
// (Contact, Presented), built before the deliverer and shared by it (its
// delivery sessions' queries) and the Manager: no setter wires the parts
// together after construction.
//
// State of one primary, as the store keeps it (last contact, start of the
// last failed heartbeat, failures, database id, taken over):
//
//	            Contact (a completed discard query: end of a delivery
//	            session, heartbeat, watch session; discards applied)
//	   ┌──────────────────────────────────────────────────┐
//	   ▼                                                  │
//	[healthy] ──timeout since last contact──▶ heartbeat ──┤ ok
//	   ▲                                      │ fails     │
//	   │                                      ▼           │
//	   └────────── failures < retries ─── [failing] ──────┘
//	                                          │ the next heartbeat is due one
//	                                          │ timeout after the failed one
//	                                          │ STARTED (a hung one costs no more)
//	                                          │ failures == retries
//	                                          ▼
//	                          Takeover (copies back to routing) ─▶ [taken over]
//	[taken over] ──heartbeat every timeout──▶ still watched while any copy
//	             (taken over or not) is here, wherever it waits; a contact
//	             with the same database id gives the copies its failed
//	             heartbeats took over and that still wait back to it (held
//	             copies again, settled by its discard: queue, takenindex.go)
//	             and makes the other waiting copies due at once
//
//	Every takeover, whatever its cause, records with each copy the
//	database id it was taken over under (the one stored for the primary
//	then: queue takenindex.go): shadow list shows it beside the
//	primary's current id, and delivery no longer avoids the primary as
//	the server a copy came from once it runs another database.
//
//	Contact or Presented with a database id other than the stored one
//	─▶ Takeover at once (the primary lost its queue: SR-7), whichever
//	side restarted since; under the new id the primary counts no failed
//	heartbeat and no takeover, and its last contact is when the new id
//	was first heard: those were the old database's (the store starts
//	its record afresh; the copies taken over stay the old one's). Nothing
//	held for it: no takeover — an INFO, not the takeover's WARN. A refused session (login or XSHADOW refused)
//	never gets the id; the digest the primary advertised in its EHLO
//	does the same (Recorder.presentedDigest, DigestStore): another
//	digest than the stored id's takes over, the stored id stays until a
//	push or an accepted session brings the new one.
//
//	A refused heartbeat: the stored id's digest presented ─▶ [refused]
//	(alive, nothing counted); no digest, or another ─▶ a failed
//	heartbeat ([failing], shown as unreachable).
//
// A heartbeat fails when the primary does not complete it: no
// connection, a broken or timed-out session, a 4xx other than to the
// login, a 421 anywhere (the server is closing the connection: shutting
// down or overloaded — it refuses nobody). A heartbeat the primary
// answers with a refusal (Refusal: a 5xx reply — this server did not
// log in, or has no right to the shadow verbs — or a reply refusing its
// login, 535 or a lockout's 454) is no failure: the primary is alive,
// so nothing is counted and nothing taken over; the refusal is logged
// with the whole reply — at WARN at the first refusal, when the reply
// changes and once a minute (Manager.refusalWarnDue, memory only; the
// refusals between at INFO, rt32a) — and the next heartbeat is due a
// timeout later (Manager.refusedAt, memory only). Its copies stay until it lets
// this server in, or until it stops answering and its failed heartbeats
// take them over — past their expiry too: the queue takes an
// unconfirmed copy over after message_expiration and an hour, but not
// one of a primary that answers and refuses this server with the
// copy's database (KeepExpiredCopies, the queue's expiry keeper): that
// primary owns the message's expiry (delivered or bounced there), and
// a takeover at the copy's expiry delivered it a second time (shadow31
// S3). The refusal that keeps them is the primary's last own one that
// presented the copies' database digest (Recorder.owns), kept apart
// from the views' refusal: one failed heartbeat ends the latter (the
// views say unreachable) but not the keeping — the primary may be alive
// and refusing still —, which only a session let in, a takeover by
// failed heartbeats, a new database, a refusal without the digest or
// this server's refusal of its contacts ends; a digestless refusal of a
// primary proved of an earlier release keeps none (earlierrelease.go:
// the expiry is the one bound of trusting it). The refusals being memory, no expired copy is taken over within
// two heartbeat timeouts after this start either; a primary that
// disowned this server is not kept (its copies go at their expiry, as
// below). shadow list's WHY says it (PrimaryStatus.ExpiryKept). A copy the primary
// pushes on receipt proves it alive too: the store forgets its counted
// failures (not a contact: the timer stays). A heartbeat that ends by a
// fault of this server's — its store failing (SaveError, unless it
// refused the contact), a panic in its own code or a source address it
// cannot bind (LocalFault) — says nothing of the primary: no failed
// heartbeat is counted, none in the failed heartbeats' metric, the
// primary is not shown unreachable, and the fault is logged at ERROR
// (its error says what to fix), paced; a holder probe it ends counts
// toward no bound after which a holder's copies are taken as lost
// (unreachedBound) — but a holder it kept the start (or the ask after
// a stall) from asking was not asked what it finished of copies it may
// have taken over, whoever's the fault: Unreached names it as any
// holder not reached since the start, and the start says so at ERROR
// as this server's fault, not as a holder not reachable; a watch
// session that ends by a panic here (LocalFault) or by its store
// failing (SaveError, unless it refused the contact: localSaveError)
// marks the primary neither unreachable nor failing (watchFailing,
// TaskFailed), and is opened again after the pause a primary that is
// down gets (watchPause) — or at the next step after a contact with the
// primary, which shows the fault cleared (rrstall41 item 2) — logged
// once per incident (stall41 item 2: it was reopened every second). The lines of the periodic loops that a
// fault of this server's repeats at every turn — a heartbeat's local
// fault (once a minute per primary, as refusals), the step's and the
// holders' pass's failed listings (panicline.Gate.Due: once a minute,
// the next line counting those left out) — are paced: at the shortest
// timeout those loops come every second. Its copies
// are still taken over at their expiry.
//
// Judging a refusal (rt18 F4): a refusal is the primary's only when the
// session presented the digest of the database id stored for it — the
// database the copies were made against (XSHADOWDB in the EHLO reply,
// Recorder.presentedDigest, ContactResult.SameDatabase). The promise:
//
//   - the same digest, refusing: the primary is alive and holds the
//     mail; state refused, no failure counted, no takeover (the copies
//     wait for it to let this server in, past their expiry too). A
//     refusal saying this server's database id is another server's
//     there (this server runs a copy of another's data dir: its copies
//     are that server's, stale) is kept in the store (DisownStore) and
//     stands through the primary's outages: its failed heartbeats are
//     counted, none takes the copies over (ErrDisowned), until the
//     primary lets a session in or pushes a copy here (rt27a F2); at
//     their expiry the copies are taken over as any copy (the refusal
//     is a renamed server's too, whose copies are the only ones);
//   - another digest: the primary lost its queue (SR-7); every copy is
//     taken over at once, and the heartbeat counts as failed;
//     A primary that answers but offers no XSHADOW to this server is
//     asked the verb all the same (delivery askShadow): its refusal is
//     judged so too — alive, its copies kept, not taken over, while it
//     delivers them (a server advertises XSHADOWDB with or without the
//     verb, and whatever the standing of the session: one from an
//     address the topology does not give this server is refused by a
//     primary that presents its digest all the same — refused, never
//     a takeover while it runs, rt30a F1);
//   - no digest from a primary a completed session proved of an earlier
//     release (its XSHADOW reply with the stored id, its EHLO without a
//     digest; kept in the store for that id: EarlierReleaseStore,
//     earlierrelease.go): the primary refusing, alive, as with the
//     same digest — a rolling upgrade does not take over a primary
//     that still answers and holds its mail just because it is older;
//   - no digest otherwise (nothing advertised, or the id is not known
//     here): whatever answered is not the primary refusing — a dead
//     primary's address taken over by another server, a proxy, a
//     primary never proved of an earlier release: the heartbeat fails
//     like one nothing answered — a refusal at the greeting (a 5xx
//     banner, before any EHLO could carry a digest) included: nothing
//     in it says which server or database answered (shadow31 S2; a
//     primary with shadow redundancy off advertises its digest all the
//     same, package smtp advertiseDigest, so only a greeting refusal is
//     left without one),
//     and the copies are taken over after the retry count of failures,
//     timeout × retries after the last contact. Watch sessions and
//     reconciliations refused so count as failed sessions (never
//     counted towards a takeover; a refused watch waits a timeout).
//
// This gives nothing that answers at a live primary's address a power it
// does not have already. A live, reachable primary is what answers its
// heartbeats; to make them fail something must stand between the two,
// and that can already make them fail by dropping the connection — the
// takeover it gets is the one a dead primary gets, after the same count
// of failures, and any contact (a completed discard query, an XSHADOW
// reply with the stored id, a push on receipt, a session of the primary's
// completed here) resets the count, and a contact that is no discard query
// makes the next heartbeat due a timeout after it (queue alive.go; rt36
// F2: a primary down a second twice was taken over a second into its
// second outage). The takeover never comes before timeout × retries after
// the last contact of any kind: the commit that would take over checks
// it and defers to the next failure past it (HeartbeatFailed answers
// ErrTakeoverDeferred; F0: a primary dead just after its push, with no
// failure counted, was taken over 6.3 s after it with 5 s × 2). A live
// primary whose database really changed presents its new digest and is
// taken over at once, as before. On a full disk the commit that counts
// a failed heartbeat and takes the copies over may give up the space
// reserve (queue spacereserve.go) and is tried once more: a holder whose
// only mail is copies can free room only by delivering them, which needs
// the takeover (rt42 F2). Where it still fails nothing is counted or
// taken over — the next failed heartbeat tries again, the log says so
// once per episode (then once a minute), and Status says the takeover
// waits (TakeoverWaiting), never that it is due at a time past.
// What is given up: a primary of an
// earlier release (no XSHADOWDB) that refuses this server's login is
// taken over after the retry count, though it still holds its mail;
// messages both then deliver are suppressed at final delivery where an
// umbra mailbox or duplicate record sees them (SR-11), and may be
// delivered twice elsewhere.
//
// A contact refused here (rt23a F1): a session whose XSHADOW reply
// presents a database id the store keeps as another server's (two
// servers run one database: a data dir copied between hosts) is
// refused by the store, nothing recorded — and it is never a contact:
// not the primary heard from, no reset, the takeover time stays
// (queue.ShadowContact refuses before it notes anything). The Recorder
// counts each (ContactRefusedDatabase), WARNs once per primary and id
// with what the operator does, and keeps it as a refusal for Status
// (state refused, the reply, since when) until a session is let in, a
// heartbeat fails for another reason, or a session the primary opens
// to this server presenting an id of its own is let in there
// (SessionAcceptedHere, told by package smtp at the event that clears
// the primary's destination mark server:refused:NAME: one answer to
// "refused", rt28e F3). What happens to the copies:
//
//   - the primary's stored id is another one than it presents: the
//     copies were made against a database it evidently no longer runs
//     (SR-7's case, the id itself refused): each refused heartbeat
//     counts as failed, and they are taken over at the retry count, at
//     the TakeoverAt Status shows — as for a failed primary, so a
//     genuine contact with the stored id (a push, a session completed
//     here) still defers it. The owner of the presented id is not
//     touched: its record and copies are its own;
//   - no id stored, or the one presented: nothing says it lost them — it
//     may be the id's genuine owner, met after the copy presented the id
//     first (this server keeps an id as the first server's that
//     presented it, and cannot tell the copy from the original). Nothing
//     is counted or taken over; the next heartbeat is a timeout away; the
//     view and the WARN say what to do: give the server running the copy
//     a data dir of its own, then umbra shadow forget-database ID here.
//
// One record of refusals (Recorder.Refused, memory; one per server,
// keyed by its name folded as mailaddr.NameKey folds it — a primary's
// copies are stored under the name its sessions state, its probes and
// the session let in that ends a refusal here name it as the topology
// spells it —, shown under the spelling it was recorded with; a digest
// presented in a refused session is judged against the primary stored
// under any spelling of the name, Recorder.storedName): every session kind
// — heartbeat, watch, reconciliation, and a delivery's relay whose
// XSHADOW was refused, and this server's session for copies on receipt
// to a shadow server (SessionRefused, session "receipt") — reports its
// refusal to the Recorder, which counts it (Observer.Refused, not
// Observer.Heartbeat), paces its WARN (a minute per peer and kind; the
// heartbeat's is logged at each, one per timeout) and, when the
// refusal is the primary's (Judging a refusal), keeps the last reply,
// since when and the last time until a session is let in (Contact, or
// an XSHADOW reply Presented) that began after the refusal (a session
// let in before it — a watch session opened before a reload took the
// shadow verbs away — fetches discards but ends no refusal: rt30a F3,
// Recorder.admitted) or a heartbeat fails (the primary is
// unreachable now: Recorder.unreachable). Status shows it, so shadow
// list, the API, the console and the metrics tell one story: refused
// (the primary answers and refuses), unreachable (heartbeats fail:
// Status.Unreachable has the last one's error and TakeoverAt when the
// takeover comes), healthy, or taken over (Status.TakenOverWhy: the
// count of failed heartbeats that made the takeover, stored with it and
// in the words of the takeover's log line — "N heartbeats failed" — and
// the last one's error while they go on).
// The scheduler shows a refused heartbeat as its destination's last
// error without counting it in a row (its error is a Refusal). Watch
// sessions and reconciliations are not opened to a primary that refused
// a session less than a heartbeat timeout ago: they back off as the
// heartbeats do, instead of reconnecting once a second.
//
// Only a completed discard query is a contact (SR-5): the heartbeat timer
// is the bound on how long a discard committed at the primary waits to be
// fetched, so nothing else may move it. An XSHADOW reply (at the start of
// a delivery or watch session) and the batches a query read before it
// broke are Presented: the database id is compared and the discards are
// applied (the primary forgot a batch when asked for the next), but the
// timer stays. Sessions that break or end before their end-of-session
// query therefore never hold a heartbeat back.
//
// Clock steps: the stored times are wall-clock times; the timers between
// steps run on the monotonic clock. A stored time after now was written
// before the clock stepped back and does not count (due): the heartbeat
// is due at once and re-anchors on the stepped clock, so heartbeats never
// pause for the length of a step back, and a step forward brings one
// heartbeat forward. Either way a takeover needs its retry count of
// failed heartbeats, each a timeout after the last: no mass takeover.
//
// Delayed acknowledgement (SR-9, SR-15), and every copy handed on: a
// primary is urgent for a minute after a sender starts waiting on a copy
// held for it, after this server handed it a message in a shadow session
// (whatever the acknowledgement setting: rt39 F1, the discard came with
// the next heartbeat or pooled session's end, seconds after the
// primary's commit, and a kill -9 of the primary in between made this
// server take the copy over and deliver it again), or after it pushed a
// copy on receipt; and a primary still urgent stays so while copies are
// held for it (Step): its watch session stays open until they are gone,
// and a minute after — an urgency that ran out between two steps (the
// process stopped, a stall, the clock stepped on) is renewed at the next
// while copies are still held (rrwatch40: the session ended and none
// opened again until the next hand-off). The queue keeps the urgency (Primary.UrgentUntil)
// and has the scheduler step the Manager at once; Expedite marks one
// directly. That urgency is memory, so the first step after the start —
// and the next after a reload (WatchHeld) — makes urgent every primary
// copies are held for and not taken over: copies held across a restart
// get their watch session then, not at the next hand-off to that
// primary (watch40 item 1: until it, their discards waited for the next
// heartbeat, and a kill -9 of the primary in that window made this
// server take the copy over and deliver it again). Only the minute's end ends it — not
// a step that finds no copy held for it at that moment (rt43 F3: under
// steady load the watch ended then and the next opened a step later, the
// discards between coming up to a second late). While it is, one watch session
// (Watcher, watch.go; a task of WatchDest+primary) stays open to it and
// brings each discard as the primary commits it — no connection per
// query, and a failed watch session is reopened at most once per
// watchRetry, the pause doubling while the primary stays down up to
// watchPauseMax, 4 s, or the heartbeat timeout if shorter (watchPause;
// the outage logged once, not per try: rrwatch40, a pause of the
// heartbeat timeout left the discards of what a primary back delivered
// waiting that long) —
// a refused one not before a heartbeat timeout (startWatch):
// the refused watch ends, it does not hold its window. A watch session's completed queries are contacts
// (its XSHADOW reply is not); its failures are left to the heartbeats to
// judge for the takeover, but they are shown: each failed try is
// reported to the scheduler (TaskFailer: the destination's failures in
// a row and last error) and makes the primary unreachable in Status
// until a session with it is let in (rt27 F8).
//
// Discards are saved before the next command (SR-15): a primary
// forgets the notifications of an XQUERYDISCARD reply when this server's
// next command on that connection arrives, so every session — delivery
// session, heartbeat, watch session — hands each batch to a Save (the
// Recorder's Contact or Presented: one durable commit) and sends its next
// command (the next query or WAIT=, MAIL, QUIT) only after it returned. A
// save that fails ends the session without another command, and the
// primary sends the batch again. A kill -9 of this server at any point
// therefore leaves each notification either committed here or still at
// the primary: never neither (F1: a watch session applied batches while
// its next WAIT= was out, and a kill in between stranded the copies).
// Several sessions to one primary may be handed the same notification
// before one of them proves it has it; applying it again finds nothing
// ("ids=1 discarded=0" in the log) and is harmless.
//
// Stranded copies (reconcile.go): a copy whose notification went
// missing anyway is found by asking. Every ten minutes — and at once
// after a restart — the manager asks each healthy primary (no failed
// heartbeat, not taken over) that speaks shadow verbs version 4 about up
// to 100 of the copies held for it longer than an hour
// (queue.HeldQueryAge), resuming where the last question stopped
// (XQUERYHELD). The rule for the answer, the primary's side (package
// queue, heldquery.go): the primary still needs a copy exactly while a
// record naming this server and the copy's id has a recipient pending
// and is not held by the operator (a hold settles the copy: its commit
// writes the discard, so that no takeover here delivers a message held
// there — queue, hold.go);
// an id it has no such record for — delivered, relayed on, failed,
// deleted by an operator, or never committed (a push on receipt before
// a commit that failed) — it is done with, because a record leaves the
// primary's database only in a commit that prepares the discard, or
// with the whole database, and a new database presents a new database
// id (db restore, a wiped disk) that takes the copies over here (SR-7)
// instead — or, put back from an older copy of the same file (a
// snapshot), a lower rollback mark that does the same (version 7,
// below; with an older peer such copies are lost). So the answer is applied like discard notifications and only
// after the session's XSHADOW database id was compared: a primary that
// lost messages with its database never makes this server drop their
// copies — neither in the session whose id took them over (its answer
// settles nothing: saveFinished) nor in any later one (the store
// applies a discard to a taken-over copy only from the database it was
// taken over under: queue, takenindex.go takenUnderOther), nor — a
// rollback mark takes them over under the same database id — in any
// session at all: the answer settles held copies only (HeldDoneStore,
// queue ShadowHeldDone), never one taken over or in delivery since it
// was listed (TestReconcileAnswerOfRolledBackPrimaryDropsNoCopy), and
// keeps no early discard for one gone since it was listed (it presents
// no mark to place one by, and no push of it is in flight: kept, it
// settled a later copy of the org id, earlymark40). A copy younger than an hour is never asked about, so a push
// on receipt whose primary has not committed yet is not dropped — except
// the copies a restore of this server's database brought back (queue,
// heldquery.go: their discards may have been applied after the backup,
// and none comes again): they are asked about whatever their age, batch
// after batch (RestoredLister), so a healthy primary has them settled at
// its first contact, and those it still holds are asked about again at
// each heartbeat interval while younger than an hour (restoredDue: the
// primary may make such a copy again elsewhere, having met this
// server's new database id, and then owes this server no discard for
// it, rt18b F2) — the store is asked whether one is held at most once
// a heartbeat interval per primary, not at each step, and once none is
// left the restore's mark goes (queue.Manager.RestoredCopiesAsk: a
// commit, made after the step lets the manager's lock go, so no
// heartbeat waits on it); one that cannot be asked leaves them to the
// heartbeats, as any copy (a loss is worse than a duplicate): back
// within the takeover bound it is asked first and nothing is taken over;
// down longer, its finished messages' restored copies are delivered
// again. What
// this cannot tell apart: a primary whose records were removed by
// something other than umbra (a file edited by hand) — the database id
// is the contract.
//
// The other direction (holders.go, rt23 NEW-4): this server as primary.
// A server that keeps copies of its messages — pushed on receipt, or
// kept by the hop a message was relayed from — may lose them with its
// database (a wiped data_dir, a db restore) and, knowing nothing of
// them, never asks for them again. Holders probes every such server
// each heartbeat timeout — the holder of a copy made again while its
// message is in delivery too, which the record names only after the
// attempt (queue heldholders.go) — up to probeConcurrency (4) at once,
// each probe bounded by the Copier (10 s), so up to 3 hung holders delay
// no other, and more delay the rest by one bound per 4 hung ones ahead
// (an XSHADOW session: the reply is its database id; the sessions for copies on receipt read it too, and a server
// relaying here in a shadow session presents it at XSHADOW, recorded
// before the session's first message — through a send connector too,
// when the host's advertised database digest is one the relay met under
// a server name, whose mark it then presents); the store marks, in the commit
// that records a new id, every message whose copy was there held by
// this server only (only copies under the old id: a message relayed in
// a session that presented the new id commits after that mark), and Holders makes those copies again
// (Copier.Recopy: a copy on receipt to that server or another by the
// same preference, then — the preference's hubs all failed, or none —
// to the server the copy was lost on, once it answers: an edge too,
// which is no candidate for copies on receipt, so an edge back with a
// new database gets again the copies of an organisation of one hub,
// rt32a F1; a server that refuses the copy — 452 4.3.1 from a
// full disk —, does not answer it in time, or ends its session mid-push
// (stopping or killed: midpush41) is a failed try, and the next candidate
// is tried in the same pass; a message whose receive session is still making its copy
// on receipt is left to it, rt20h-F1). A mark that cannot be cleared stays visible (shadow list,
// message show with the latest refusal, a metric) and is tried again at
// each pass. The same probe asks a server of version 12 which copies its
// operator removed (XQUERYDROPPED; queue droppedcopy.go): their messages
// are marked as for a lost database, and made again by the same pass;
// and a server of version 15 what it finished of the copies it took over
// from this server's database (XQUERYTAKENDONE; queue takendone.go):
// those recipients are done here without a DSN. The start probes every
// holder once before the queue's first delivery (Holders.AskFirst, at
// most 3 s), so that an original that expired while this server was
// away is not bounced again before it hears. That probe is the first
// pass's for the holders whose questions all finished (within
// askedFresh): the pass right after skips them and makes again what
// they told of lost copies; a holder not dialled before the bound, or
// whose questions were cut, is probed by that pass. A process that did
// not run for longer than the takeover could take (SIGSTOP) makes the
// same round before its next attempt starts (queue stallguard.go;
// Holders.Ask), which leaves nothing for the next pass: every holder is
// probed again an interval later. A holder whose every probe since the
// start failed (down while this server came back) cannot be asked what
// it finished (one named by a pending message as this server came back:
// a holder first named later holds only copies made since, rt36 F2):
// Holders.Unreached names it, with its first failed probe,
// until one reaches it; the start WARNs it with the count of its
// messages, and shadow single and message show say of those messages
// UnreachedNote — it may have taken them over and delivered them
// (rt30a F2). A holder no probe can be made to (ErrNotProbeable: no
// topology names it, the next hop of a send_xshadow connector) is never
// unreached: its failed probe says nothing of it; the start says at
// INFO that it cannot be asked what it finished.
//
// A holder that never answers again (lost for good) presents no new
// database id. Holders takes for it the bound a holder takes for its
// primary (SR-6): once no probe reached it (no database id answered)
// for LostAfter — shadow_heartbeat_timeout × shadow_heartbeat_retry_count,
// from its first failed probe in this process — the store marks every
// message whose copy it holds held by this server only (queue
// holderunreached.go: HowUnreachable, the holder kept in the mark as one
// that may hold the copy, so the commit naming the copy made again, or
// the message's end, writes its discard), and the same pass makes the
// copies again elsewhere — never on that holder while its probes fail
// (delivery Recopy passes it over while the mark stands and its last
// probe did not answer: a copy pushed there by a route its probes do
// not take was taken as lost again at every pass, rr recopy39), so a holder no probe reaches is marked once, and with no
// other candidate the mark stays, told once. A holder that answers again has the marks not
// yet settled by a new copy dropped (UnreachableStore.HolderAnswered):
// it holds those copies. So does a holder whose probe it refused after
// presenting the digest of the database its copies were made on
// (HoldingRefusal: up and holding them, it takes them over if this
// server dies — taken as lost and made again elsewhere, its copy was
// one more that this server's discard had to reach; holders49 item 1)
// — its digest says the database, not each copy: what only a probe let
// in asks (the copies its operator removed, those a rolled-back queue.db
// lost, those it finished after a takeover) waits for one, as for a
// holder without a topology;
// a refusal without that digest may be another host at its address and
// counts as silence, its WARN saying it refused, with the reply. A
// holder no probe can be made to
// (ErrNotProbeable: without a topology, none can) that completed a
// session here within the bound (HeardStore: its heartbeat or discard
// query for the copies it keeps) answers too, and so does one whose
// Probe returns a database id with ErrNotProbeable (delivery: the
// hand-over of discards to a holder removed from the topology reached
// it with the database it was met with, sites48 F2); a holder the topology
// names answers by a probe only — its sessions carry no database id nor
// what it kept, and a holder wiped, restored or rolled back keeps
// opening them. One heard from this start and silent since is
// counted from its last session, and taken as lost only at the pass
// after the first that found it so (a stall of this process heard
// nothing, and is no silence of the holder's). Crash argument: the marks and the discards are
// each written in one commit with what makes them true; the time of the
// first failed probe is memory only, so a restart delays the marking
// by at most one bound and never marks early.
//
// Partial discards (version 9): the discard settles a whole copy and is
// written when the primary's record has no recipient left pending; the
// recipients finished before are named by partial discards (queue,
// partialdiscard.go), "<id> RCPT=<xtext address>" in the same replies,
// asked for with XQUERYDISCARD … PARTIAL by every session kind here —
// delivery session, heartbeat, watch session — when the primary
// advertised version 9. They travel as the full ones: handed to the same
// Save (Contact or Presented, one commit) before the next command, from
// that session's primary only, applied only to copies held for it; so a
// kill -9 here leaves each either applied or still at the primary. The
// copy stays for its other recipients, and a takeover after that routes
// only those. A recipient the primary failed is named once its failure
// DSN has left the primary (until then the copy covers that DSN; queue
// reportedcopy.go). What stays open (README, duplicate window 1): a
// primary below version 9, a failure DSN copied to a holder of its own
// and not yet left when the primary dies for good (both holders report
// the failure), and the
// time between the primary's commit and this server's fetch — a
// heartbeat timeout at most, a watch session's next wait while a sender
// waits — in which a primary killed for good leaves the copy whole.
//
// Persistence (SR-13): the manager keeps nothing a decision depends on in
// memory. Each contact is one store commit (compare the stored database
// id, take over or apply discards, reset the timer); each failed heartbeat
// is one commit (count it, take over at the retry count). That commit
// first checks whether the primary completed a session with this server
// after the heartbeat began — a discard query (Contact), a reconciliation
// (AnswerStore), a copy it pushed, a query of its own answered here, a
// shadow session of its own ended here by its QUIT (its probe, a relay:
// smtp Logout), an
// XSHADOW reply with the stored database id on another session (Presented;
// only the primary holding the copies' mail knows that id) — and if so
// counts nothing and takes nothing over (ErrAnsweredSince): the primary is
// alive, it was stopped or slow while the heartbeat waited (rt33 F1; rt35
// F6: back just before the bound, too late for the heartbeat's own login).
// A completed discard query resets the failures and the timer; any
// other contact with the real primary (that XSHADOW reply, a push, a
// session of its own completed here) forgets the failures and makes the
// next heartbeat due a timeout after it (queue alive.go, rt36 F2), and
// the commit that would take over defers it while the last contact of
// any kind is less than timeout × retries old (ErrTakeoverDeferred).
// Those times are the store's memory only; a restart ends every
// heartbeat in flight, and the store counts its start as a contact, so a
// restart of this server never brings a takeover forward; after a restart
// the failures of a primary whose copies were taken over before answer
// ErrTakenOverAlready. Every failure after a takeover, this one too, is
// logged at INFO as "primary still unreachable; its copies are taken
// over" with the count of failed heartbeats and no limit beside it: no
// takeover is to come (rt16e F4). The commit that
// makes a copy also stores the primary's address and the database id the
// copy was made against. The manager's memory is a cache for Status.
//
// Copies on receipt (SR-17): a primary that pushed a copy of a message it
// received (queue.SubmitShadowCopy) is watched exactly as one this server
// relayed to: the copy's commit records the primary, its address and
// database id, and heartbeats, discards and takeover follow from there.
// The push is a MAIL with XSHADOWCOPY=<database id> in a shadow session
// (version 3 of the shadow verbs); from version 5 on the copy is all or
// nothing at this end (a refused command of its transaction refuses it
// whole), so the primary sends MAIL, RCPT and BDAT LAST with the body in
// one write and reads the replies once (package smtp, pushone.go).
//
// Shadow verb versions (EHLO "XSHADOW n"; each side speaks the lower):
// 1 XSHADOW, XSHADOW= and XQUERYDISCARD; 2 XQUERYDISCARD WAIT=; 3
// XSHADOWCOPY= (copies on receipt); 4 XQUERYHELD; 5 copies on receipt
// all or nothing, pushed in one round trip; 6 batches of copies; 7
// rollback marks (below); 8 an id per transaction (queue copyid.go); 9
// partial discards (above); 10 a database id presented without a mark
// (smtp shadowwait.go); 11 messages given to their copy's holder; 12
// XQUERYDROPPED; 13 and 14 XDISCARD; 15 XQUERYTAKENDONE (the holders'
// probe asks what a holder finished of the copies it took over from this
// server's database: holders.go, queue takendone.go); 16 XQUERYTAKENDONE
// HELD (also the copies its administrator held when they were given
// back: the original is suspended here, queue heldnote.go); 17 delay
// notes, "<id> DELAYED" with the discards (XQUERYDISCARD … PARTIAL
// TAKEOVER DELAYED): the primary sent the copy's "delayed" DSN, so the
// copy, taken over, sends none (queue delaynote.go); 18 enhanced status
// codes on the XSHADOW reply and the lines of the lists, for a client
// that says CODES (smtp shadowwait.go); 19 delay notes pushed with
// XDISCARD, "<id> DELAYED", by a primary that stops (smtp shadowpush.go,
// delivery stopdiscards.go) — never to a holder below 19, which would
// read the DELAYED word as a copy id and drop the copy; 20 the shadow
// server's own name (server.name) stated in the XSHADOW reply, " NAME=<name>"
// after the mark, for a client that says NAME (smtp shadowwait.go): a
// copy on receipt is not made on a server presenting a database id kept
// here as another server's under a name of its own (a copied data dir:
// every session it opens here is refused, so the copy could never be
// discarded, and it would take the copy over at its expiry while this
// server delivers the original), nor on one stating the name the id is
// kept as while this server's topology lists a server of that name at
// another address (two hosts state it: a copy of the data dir and of the
// configuration, whose sessions here pass as that server's, so either
// could take the discards of copies filed under the name dialled). One
// rule for both sides: a copy on receipt is made only on a server whose
// sessions here are let in by the name it states — its discard queries,
// heartbeats and watch open their shadow session under that server id,
// refused unless this server's topology gives that name a transport
// server. So none is made on a server met under a second name here (a
// typo or rename in this server's topology, from the first contact or
// since: it states a name the topology does not list), whose copy could
// never be discarded and would be taken over, and delivered again, when
// this server fails (rt28a F3; WARN "no copy on receipt on a shadow
// server whose sessions this server refuses"); the preference goes on to
// its other holders or retries. Counted as HolderRefusedDatabase; a
// server below 20 states no name and gets the copy, as before (package
// delivery, receipt.go, recopy.go holderSeen, sessionsRefusedHere). The
// same rule from what this server saw: a server whose shadow sessions
// this server's receive side refused (any reason: address, certificate,
// account, right, a connector offering no shadow verbs; package smtp
// SessionNoter) since the last one let in
// gets no copy on receipt (a pooled copy session to it is ended, not
// reused) — tried last, and tried again for one copy in its place once
// a minute, the refusal standing until a session of it is let in (rt29a
// F2); a refusal for the connection's address alone (a valid
// certificate or account) while a session of the server was let in here
// within five minutes marks nothing (package delivery refusedretry.go).
// Kept in the transport database (queue refusedhere.go) with the time it
// began: a restart starts from it, each such server tried for a copy a
// minute after the start; only a fresh database has seen none refused,
// and its first copies may go until the holder's first session is
// refused. 21 XQUERYTAKENDONE HELD BUSY: the holder also lists the
// copies it took over from the asking primary's database that are in
// delivery there ("<id> BUSY"), and the primary keeps its originals of
// them back until an answer lists them no more (queue takenbusy.go).
// 22 XQUERYTAKENDONE HELD BUSY FROM=<database id>: a primary whose
// database was restored from a backup names the database it was restored
// from; the holder takes over at once a record of it still stored with
// that id (SR-7, as its next session would), and also lists the notes and
// copies in delivery of that database and, per pending recipient of a
// copy taken over under it that waits here, "<id> RCPT=<address> TAKEN":
// the primary marks those recipients of its originals done without a DSN,
// so a restore does not deliver its queue a second time beside the
// holders' takeover (queue takenover.go). The reply to FROM= also lists,
// last, "<copy id> RCPT=<address> TAKEN" per recipient of the copies
// the asking server handed here in a shadow session that this server
// holds or finished; the restored server asks every transport server
// of the topology so (Holders: PredecessorAsker) and takes over no copy
// held for another primary before they answered, at most the takeover
// bound from its start (queue restoredhanded.go).
// 23 XQUERYKEPT <id>...: the holders' probe asks which of the copies this
// server's pending records name on the holder it has no record of (a
// holder whose database file was copied back from an older copy keeps
// its id and lost them); a copy missing from two answers a probe
// interval apart marks its message held by this server only, and the
// pass makes it again (delivery askKept, queue keptcopy.go).
// 24 each record of a batch of copies on receipt states its copy's own
// rollback mark (smtp batch.go, flag M): a discard that reached the
// holder before its copy is placed by it (queue earlystale.go), not by
// the batch's highest — a copy batched with a later one was kept after
// its discard, and delivered again when the primary was lost (rt39 F1).
// The discard itself is placed by the mark it was made under: the
// MARK= of the XQUERYDISCARD reply that listed it (Save's mark,
// smtp.Client.DiscardMark) or of the XSHADOW of the session that pushed
// it (XDISCARD), never the mark stored for the primary when it is
// committed — another session's copy may have raised that, and a copy
// of the same org id committed between the two was settled by the
// discard and lost with the primary (earlymark40).
//
// Rollback marks (version 7; queue marks.go). A primary's database put
// back from a VM snapshot or a file copy keeps its id, so SR-7 does not
// fire, and XQUERYHELD would hear "done" for the copies of every message
// it lost. A primary keeps a counter per shadow server, raised in each
// commit that names that server as a copy's keeper, and presents it: in
// the reply to "XSHADOW <id> MARK" and in every XQUERYDISCARD reply of
// such a session (this server's heartbeats, watch, reconcile and relay
// sessions: Recorder.MarkSeen, before the session saves anything else),
// in "XSHADOW <id> MARK=<n> DB=<id>" of every session it opens to a
// peer (to push copies, to relay, and as a shadow server its heartbeat,
// watch and reconcile sessions: the peer records the database it keeps
// copies in), and with each copy (XSHADOWMARK=, its own commit's value). The
// store keeps the highest mark per primary (one key for every spelling
// of its name, mailaddr.NameKey: the name its push sessions state and
// the topology's spelling this server's sessions use, shadow31 S4) and
// database id; a
// presentation lower than the one stored before the primary read its
// counter (MarkFloor: read before the command that asks, or at the EHLO
// of the primary's push session — never a mark a concurrent copy brought
// since) for the same id is a rolled-back primary: every copy held for it is
// taken over, as for a new database, logged and counted. With a peer of
// version 6 or below, no marks: the behaviour of before.
//
// A primary the topology no longer names (departed42, rt42-shadow F1;
// a reload mid-rollout). The topology decides which servers get new
// copies; it never decides the fate of copies already held. Each place
// where membership could gate a decision for what is held, and what it
// does:
//
//   - heartbeats, watch sessions and the takeover: driven by the
//     store's record of the primary (name, the address its heartbeats
//     go to, database id), not by the topology — a dropped primary is
//     watched and, its heartbeats failing, taken over as any;
//   - give-back: a contact with the stored id gives the taken-over
//     copies still waiting back (takenindex.go), whatever the topology;
//   - discards: applied by the primary's name (ApplyDiscards), whether
//     fetched by this server's sessions or pushed by the primary's;
//   - the primary's own sessions here (its start's probe, which asks
//     XQUERYTAKENDONE before its first delivery, its discard queries
//     and pushes, XQUERYHELD): package smtp lets a session on the
//     connector's trust that states a name the topology does not know
//     in by the store's record of it (queue heldservers.go, smtp
//     departed.go) — from the record's address only, and only while
//     copies of it are held here, taken-done notes made under its
//     database are owed to it (the record is kept for them) or within
//     the ten minutes after; such a session hands no new copy and no
//     message under a shadow id (550 5.7.1). Before, it was refused
//     ("not a server of the organisation", or XSHADOW not offered to
//     its address), heard nothing of what was taken over and delivered
//     here, and delivered it again;
//   - shadow list marks the primary "not in topology" (admin
//     ShadowView.NotInTopology); its row stays while copies are held;
//   - the other direction, a holder the primary's topology dropped: the
//     primary makes no copy there any more (no candidate of Recopy) and
//     pushes the discards it owes it to the address the copies were
//     made at (queue holderaddrs; README "Copies held by a server
//     removed from the topology").
//
// A session stating a name the topology does not know and of which
// nothing is held is refused as before, WARNed once a minute per name
// ("not in this server's topology") and counted (refused sessions,
// session "topology").
//
// Invariants: a heartbeat is one SMTP session bounded as a whole by one
// command timeout (every step also has its own, W-7), so a hung primary
// counts as a failed heartbeat, and a refusing one never does; the
// bound ends the heartbeat's context with ErrHeartbeatBound (a
// context.DeadlineExceeded) and this server's stop with a plain cancel,
// so that the Heartbeater marks the primary for the one only (rcpt47
// item 3); heartbeats and polls run concurrently, one
// per primary at a time (the manager's flight record, and the scheduler's
// window of 1 for the primary's destination: a second one is refused,
// not queued, and asked for again at the next step), so one hung primary
// holds its own window and delays no other; takeover
// happens timeout × retries (+ one command timeout) after the last
// contact or push; a primary without shadow copies is not watched (the store drops
// its record ten minutes after the last contact, not while taken-done
// notes made under its database are owed to it). The heartbeat
// settings can change on a running manager (SetTiming, configuration
// reload).
package shadow
