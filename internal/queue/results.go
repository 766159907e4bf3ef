package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"
)

// Outcome is what one delivery attempt did for one recipient.
type Outcome uint8

const (
	// Deferred: a temporary failure; try again later.
	Deferred Outcome = iota
	// DeliveredOK: final delivery into a mailbox.
	DeliveredOK
	// RelayedOK: a next hop accepted responsibility.
	RelayedOK
	// FailedPerm: a permanent failure; the sender gets a DSN.
	FailedPerm
	// Held: routed to a queue the operator suspended; not attempted.
	// Its reply is HeldReply(queue).
	Held
	// ShadowedOK: a primary took the recipient in a shadow session; the
	// copy stays here until the primary's discard notification.
	ShadowedOK
	// Expanded: the recipient is a group expanded here (Result.Expand):
	// it is done, and its members join the message as new recipients,
	// due at once, in the same commit.
	Expanded
	// GivenBack: a copy taken over from the primary of this session,
	// which answered with the database the copy was taken over from: not
	// sent, held as that primary's copy again (GiveBackRcpts).
	GivenBack
)

// PanicReply is the reply of a recipient whose delivery panicked (a
// defect of umbra's, recovered in package delivery): deferred, tried
// again at its next retry; it says nothing of the next hop, so it gives
// its destination's window no feedback (feedback).
const PanicReply = "451 4.3.0 local error in delivery (recovered; tried again later)"

// HeldReply is the reply of a recipient held (Held) because the
// operator suspended the queue its route takes.
func HeldReply(queue string) string {
	return "452 4.3.2 queue " + queue + heldSuffix
}

const heldSuffix = " suspended by the administrator"

// heldNow makes the hold the last reply of every pending recipient of m
// that waits in a queue suspended now, at the commit of an attempt's
// results (finish), before the DSNs it makes read them (rt27d F2). A
// hold that came while the attempt ran wrote nothing on the message in
// delivery, and the attempt's commit came after it with the host's
// reply (a greeting timeout); a claim at the delay notice or the expiry
// of a message all of whose recipients are held carries each one's own
// reply (scheduler.go, start); a recipient held while another of the
// message is attempted gets no result at all. Each then kept an earlier
// host's reply and host while the views said held, and the delay and
// failure DSNs quoted that host as if it had said the hold (README,
// The host's reply is kept apart from the hold (holdOver,
// heldover.go): the DSNs quote it and mention the hold beside it
// (dsnlast47), and it stays in the tracking log's defer event of the
// attempt that got it. The message's last error follows when it was
// that reply.
//
// The suspension is read in memory, before the commit: a resume that
// commits in between (it leaves a message in delivery to its attempt)
// would leave the hold as the reply of a queue no longer suspended, for
// good. So heldNow returns what it replaced, and the commit gives it
// back for every queue its transaction finds resumed (unheldResumed).
func (q *Manager) heldNow(m *Message) []heldSwap {
	q.qmu.Lock()
	defer q.qmu.Unlock()
	var swaps []heldSwap
	for _, i := range m.Pending() {
		rc := &m.Rcpts[i]
		name := queueOf(rc)
		if !q.suspended[name] || heldBy(rc.LastReply) == name {
			continue
		}
		was := heldSwap{rcpt: i, queue: name, reply: rc.LastReply, hop: rc.NextHop}
		holdOver(rc, HeldReply(name))
		if was.reply != "" && m.LastError == was.reply {
			m.LastError, was.lastError = rc.LastReply, true
		}
		swaps = append(swaps, was)
	}
	return swaps
}

// heldSwap is a recipient's reply heldNow replaced with the hold's.
type heldSwap struct {
	rcpt       int
	queue      string
	reply, hop string
	lastError  bool // the message's last error was that reply
}

// unheldResumed gives back, in the commit's transaction, the reply and
// host heldNow replaced for each recipient whose queue that transaction
// finds no longer suspended and which still has the hold's reply.
func unheldResumed(tx *Tx, m *Message, swaps []heldSwap) {
	for _, w := range swaps {
		if w.rcpt >= len(m.Rcpts) || tx.IsSuspended(w.queue) {
			continue
		}
		rc := &m.Rcpts[w.rcpt]
		if rc.Status.Done() || heldBy(rc.LastReply) != w.queue {
			continue
		}
		rc.LastReply, rc.NextHop, rc.HopReply, rc.HopHost = w.reply, w.hop, "", ""
		if w.lastError && heldBy(m.LastError) == w.queue { // bare, or carrying a takeover's note (carryTakeover)
			m.LastError = w.reply
		}
	}
}

// noResultReply is the reply of a recipient the deliverer was given but
// gave no result for: umbra's words, no host's (noHostReply).
const noResultReply = "451 4.3.0 no result from delivery"

// ownNote: reply, or the last reply an expiry's carries, is one of
// umbra's own notes about a recipient it did not try (umbraNote) — a
// DSN names no host for it (dsnReporter, shownReply), whatever host
// the recipient's record still names from an earlier attempt.
func ownNote(reply string) bool {
	if _, last, ok := splitExpired(reply); ok {
		reply = last
	}
	return umbraNote(reply)
}

// umbraNote: reply is umbra's own note, no host's words and no try of
// the message: held in a suspended queue (HeldReply: the operator's
// here), throttled with no host's reply to carry (throttleReply),
// stopped by the shutdown (stopReply), a dead destination's mark
// carrying none (deadReply; one that carries a host's reply is read
// through realReply first).
func umbraNote(reply string) bool {
	return isDeadReply(reply) || reply == throttleReply || isStopReply(reply) || heldBy(reply) != "" || isDataStallNote(reply)
}

// expiryCutKeeps is the reply and next hop a recipient keeps when the
// message's expiry cut its attempt before any host answered it (r,
// ExpiredUnsentReply), its reply before that prevReply from prevHop:
// the last reply a host gave, as it was, or as a note of umbra's
// carries it (realReply: a busy or dead destination's); a copy taken
// over and untried here keeps the takeover's note (takenOverUntried
// reads it); any other note of umbra's — the stop's from before a
// restart, a busy or dead destination's with no host's reply —
// describes an earlier attempt's end, not this one: the cut's own
// reply replaces it, so the expiry says its attempt was cut (rt37 F2:
// "its last attempt was interrupted by a shutdown" quoted after the
// restart, of an attempt a tarpit held until the expiry).
func expiryCutKeeps(prevReply, prevHop string, r Result) (string, string) {
	last := realReply(prevReply)
	switch {
	case !umbraNote(prevReply) && !carriesTakeover(prevReply):
		return prevReply, prevHop
	case strings.HasPrefix(last, takeoverPrefix):
		return prevReply, prevHop
	case last != prevReply && last != "" && !umbraNote(last):
		return last, prevHop
	}
	return r.Reply, r.NextHop
}

// staleNote: reply is umbra's note of how an earlier attempt of the
// recipient ended (the stop's, a busy or dead destination's), not a
// host's reply, a hold (the administrator's word, still true) nor a
// takeover's note (takenOverUntried reads it): a DSN about the attempt
// now running quotes it as nothing.
func staleNote(reply string) bool {
	return umbraNote(reply) && heldBy(reply) == "" && !strings.HasPrefix(realReply(reply), takeoverPrefix)
}

// heldBy names the queue a reply made by HeldReply names, "" for
// another reply.
func heldBy(reply string) string {
	rest, ok := strings.CutPrefix(reply, "452 4.3.2 queue ")
	if !ok {
		return ""
	}
	if name, _, ok := strings.Cut(rest, heldSuffix+throttleLastText+takeoverPrefix); ok {
		return name // carrying a takeover's note (carryTakeover)
	}
	name, ok := strings.CutSuffix(rest, heldSuffix)
	if !ok {
		return ""
	}
	return name
}

// Result is the outcome of an attempt for the recipient m.Rcpts[Rcpt].
type Result struct {
	Rcpt    int
	Outcome Outcome
	Queue   string // the delivery queue: e.g. "mx:example.org", "smarthost:to-edge", "mailbox:DB01"
	NextHop string // the host tried: e.g. "mx.example.org[192.0.2.1]:25", "maildir", "lmtp:127.0.0.1:24" (LMTPHop)
	Reply   string // the next hop's reply or umbra's diagnostic, e.g. "550 5.1.1 no such user"
	// Answered: the next hop itself answered the command this result
	// is about — a reply of its own (a refusal for now too, whatever
	// its status: a host's "451 4.4.2 too busy" to MAIL, its own
	// "451 4.7.5"), or one out of step or stray (a 503 to RCPT, a 3xx
	// where none belongs, which end the session on umbra's side) — and
	// did not close its session with it (421). Delivery sets it where
	// it reads the host's reply (delivery/transaction.go classify); the
	// reply's text cannot say it (a host's own 451 4.4.2 to MAIL and a
	// 421 4.4.2 read alike by status). The scheduler's signal reads it
	// (feedback): a host that answered is reachable, its deferral is
	// its message's, no failed contact of its destination. Not stored
	// as a flag: after a restart the recipient's last reply, next hop
	// and queue say it by their words (AnsweredReply, destFailure), which
	// delivery's rule makes exact — every reply of the host's own but a
	// 421 is answered, and only the host's own reply is recorded
	// against it in words that do not name it.
	Answered bool
	// Note, when set, is what the operator reads of this result instead
	// of Reply (tracking log): the detail Reply leaves out because DSNs
	// quote Reply to the sender (an organisation id, a duplicate found).
	Note string
	// For ShadowedOK: the primary, its address, the shadow message id and
	// the send connector used ("" inside the organisation).
	Primary, PrimaryAddr, ShadowID, PrimaryVia string
	// PrimaryDB is the primary's transport database id in that session.
	PrimaryDB string
	// Duplicate marks a DeliveredOK that was not written into the mailbox
	// because the same message had been delivered there before (SR-11).
	Duplicate bool
	// Database is the mailbox database of a DeliveredOK: the duplicate
	// record and the dumpster copy are kept under it.
	Database string
	// DSNPassed marks a RelayedOK or ShadowedOK whose next hop advertised
	// DSN and so took NOTIFY, ORCPT, RET and ENVID: reporting success is
	// then its job, and this server sends no success DSN (RFC 3461 §6.2).
	DSNPassed bool
	// LeftOrg marks a RelayedOK whose next hop cannot be a transport
	// server of the organisation (delivery decides: MX, or a smart host
	// that is no topology server's address or name): a taken-over copy's
	// recipient relayed so is noted for its returning primary
	// (takendone.go).
	LeftOrg bool
	// RelayedTo names, for a RelayedOK that stayed in the organisation
	// without a shadow session, the transport server of the topology it
	// went to, when delivery knows which: every smart host of the
	// connector (or the administrator's redirect target) is that one
	// server ("": not known). A taken-over copy's recipient relayed to a
	// server other than the primary it was taken from is noted for that
	// primary (takendone.go); one relayed to the primary itself is not
	// (its original merges the relay and still owes the recipient).
	RelayedTo string
	// Expand is the members of an Expanded group recipient; Owned reports
	// whether this organisation is authoritative for a member's domain
	// (nil: for none), whose mailboxes then compare in ASCII case
	// (expandInto).
	Expand []string
	Owned  func(domain string) bool
	// wait is when a throttled recipient is looked at again.
	wait time.Duration
	// deadEnd: when the cool-down of the dead destination that
	// answered it (deadWait) ends — it is due then, or at once when the
	// attempt ends later (finish).
	deadEnd time.Time
	// notBefore: the attempt's failure made its destination dead
	// (jobDone): the message is due no earlier, so that the probe at
	// the cool-down's end is another message waiting for it.
	notBefore time.Time
	// entered: the queue its job's plan counted it into from submission
	// (noteEntered): where noteResults moves it from.
	entered string
}

// detail is what the tracking log says of r: its Note, else its Reply.
func (r Result) detail() string {
	if r.Note != "" {
		return r.Note
	}
	return r.Reply
}

// Keeper keeps a copy of each final delivery (the transport dumpster,
// package dumpster). Keep runs inside the transaction that commits the
// delivery, so the copy is as durable as the delivery's record; like
// every function given to Store.Update it may run twice, so its effects
// outside the transaction go into after, which runs once the commit
// succeeded.
type Keeper interface {
	Keep(tx *Tx, m *Message, body Body, database string, rcpts []int, now time.Time) (after func(), err error)
}

// finish applies an attempt's results in one transaction: recipient
// states, the retry time or the message's removal, and any DSNs.
// early is the results its jobs' own commits wrote already (jobcommit.go):
// the record is the same, their claims, dumpster copies, notes, partial
// discards and events are not made again. interrupted (shutdown) makes
// the pending recipients due at once, without counting the attempt. handed is called when the results are handed to
// the store's commit: umbra's processing of the message ends there (the
// wait for the commit is not its code; peerwait.go).
func (q *Manager) finish(m *Message, body Body, attempted []int, results []Result, early map[int]Result, interrupted bool, handed func()) {
	now := q.clk.Now()
	pol := q.policy()
	before := make([]RcptStatus, len(m.Rcpts)) // as the attempt began (freshCopies)
	var takenCopy map[int]bool                 // recipients of a copy taken over from a primary, or of one handed on so (MayRepeat), as the attempt began (foundKept)
	for i, rc := range m.Rcpts {
		before[i] = rc.Status
		if takenOverRcpt(&m.Rcpts[i]) || m.MayRepeat && rc.Status == Pending {
			if takenCopy == nil {
				takenCopy = map[int]bool{}
			}
			takenCopy[i] = true
		}
	}
	since := before // as this commit finds them: the jobs' own commits finished some
	if len(early) > 0 {
		since = slices.Clone(before)
		for i, r := range early {
			since[i] = jobStatus(r)
		}
	}
	attemptsBefore := m.Attempts // the attempts counted before this one
	got := map[int]bool{}
	outcome := map[int]Outcome{}
	attemptedAny, throttledAny := false, false
	var deadDue time.Time // the earliest cool-down's end of the recipients a dead destination answered
	deferredAny := false  // a recipient deferred in this attempt: the last error is its reply
	var final []int
	finalDB := map[int]string{}
	var dupDB map[int]string                        // duplicate suppressed: kept in the dumpster only for a marked message (keepsFoundCopy)
	errsCommitted := q.noteResults(m, results, now) // the queues' last errors, once committed
	var failed, delivered []int
	expanded := false
	var heldIn []string // the suspended queues holding recipients (Held)
	parked := false     // every pending recipient held: due again at the hold's recheck
	// One event per recipient: written together (one line each, one
	// write), once the results are committed (heldEvents).
	ev := &heldEvents{}
	for _, r := range results {
		if r.Rcpt < 0 || r.Rcpt >= len(m.Rcpts) || got[r.Rcpt] || m.Rcpts[r.Rcpt].Status.Done() {
			continue
		}
		got[r.Rcpt] = true
		outcome[r.Rcpt] = r.Outcome
		rc := &m.Rcpts[r.Rcpt]
		// A recipient taken over from a failed primary stays in that
		// primary's shadow queue until a route takes it (SR-6). A route
		// whose queue the operator suspended took it: it is held in
		// that queue, where the queue's resume, retry and redirect find
		// it (a hold left in the shadow queue waited out its hour after
		// the resume).
		prevQueue := rc.Queue
		// Still waiting on the same dead destination (rt17c F2): no
		// connection, no change of state or reason — no new event each
		// cool-down, or a large queue behind a dead next hop would
		// rotate the tracking history away.
		stillDead := r.Outcome == deadWait && sameDeadDest(rc.LastReply, r.Reply)
		taken := strings.HasPrefix(prevQueue, "shadow:") && (r.Outcome == Deferred || r.Outcome == deadWait)
		if r.Outcome != Held && r.Outcome != throttled {
			// A dead destination's deferral made no connection: no attempt.
			attemptedAny = attemptedAny || r.Outcome != deadWait
			prevReply, prevHop := rc.LastReply, rc.NextHop
			rc.Queue, rc.NextHop, rc.LastReply = r.Queue, r.NextHop, r.Reply
			// A hold in the record (its queue resumed while the message
			// was in delivery, or its route moved on) ends with this
			// attempt: the reply kept beside it (HopReply, heldover.go)
			// says nothing of this attempt, which the expiry below and
			// the DSNs would otherwise read (a REQUIRETLS code).
			rc.HopReply, rc.HopHost = "", ""
			if r.Outcome == deadWait {
				rc.LastReply, rc.NextHop = deadWaitReply(prevReply, prevHop, r)
			}
			if r.Outcome == Deferred && expiredUnsent(r.Reply) && prevReply != "" {
				// The message's expiry cut this attempt before any host
				// answered it (expirycut.go): the last reply a host gave
				// stays the recipient's, with its host — the failure
				// the expiry makes quotes it (rt26d F1). Only a host's:
				// umbra's own note of an earlier attempt's end (the stop's
				// before a restart, a busy or dead destination's) says
				// nothing true of this one, which the expiry cut — it
				// gives way to the cut, or to the host's reply it
				// carries (expiryCutKeeps).
				rc.LastReply, rc.NextHop = expiryCutKeeps(prevReply, prevHop, r)
			}
			if r.Outcome == Deferred && r.Reply == stopReply {
				// The stop cut it, no try (finish's unbound): a copy taken
				// over and untried here stays so, the stop's note
				// carrying the takeover's (carryTakeover), for the
				// claim after the restart.
				if rc.LastReply = carryTakeover(prevReply, stopReply); rc.LastReply != stopReply {
					rc.NextHop = ""
				}
			}
		}
		if r.Outcome == deadWait {
			throttledAny = true // due again when the cool-down ends, with no retry step
			if deadDue.IsZero() || r.deadEnd.Before(deadDue) {
				deadDue = r.deadEnd
			}
		}
		switch r.Outcome {
		case DeliveredOK:
			rc.Status = Delivered
			if _, ok := early[r.Rcpt]; !ok { // a job's commit made its DSN (jobcommit.go)
				delivered = append(delivered, r.Rcpt)
			}
			if r.Duplicate {
				if dupDB == nil {
					dupDB = map[int]string{}
				}
				dupDB[r.Rcpt] = r.Database
				ev.Event("duplicate-suppressed", m, rc, r.detail())
				q.log.Info("duplicate suppressed at final delivery", "msg_id", m.ID.String(), "org_id", m.OrgID, "rcpt", rc.Addr)
			} else if _, ok := early[r.Rcpt]; !ok {
				final = append(final, r.Rcpt)
				finalDB[r.Rcpt] = r.Database
				ev.Event("deliver", m, rc, r.detail())
			}
		case RelayedOK:
			rc.Status = Relayed
			if _, ok := early[r.Rcpt]; !ok && !r.DSNPassed { // else the next hop reports success (RFC 3461), or a job's commit did
				delivered = append(delivered, r.Rcpt)
			}
			if _, ok := early[r.Rcpt]; !ok {
				ev.Event("send", m, rc, r.detail())
			}
		case ShadowedOK:
			// An administrator's redirect ends with the hand-over, as a
			// give-back's does: a copy taken over later (its primary,
			// the redirect's target, lost) takes its route from here,
			// not the target that lost it.
			rc.Status, rc.Primary, rc.PrimaryAddr, rc.ShadowID, rc.PrimaryVia, rc.Redirect = Shadowed, r.Primary, r.PrimaryAddr, r.ShadowID, r.PrimaryVia, ""
			if _, ok := early[r.Rcpt]; !ok {
				if !r.DSNPassed {
					delivered = append(delivered, r.Rcpt)
				}
				ev.Event("shadow", m, rc, r.detail())
			}
		case GivenBack:
			// Held for its primary again, under the copy's own id: the
			// primary's discard (or XQUERYHELD answer) for its original
			// settles it (givebackrelay.go).
			rc.Status, rc.PrimaryAddr, rc.PrimaryVia, rc.Redirect = Shadowed, r.PrimaryAddr, r.PrimaryVia, ""
			ev.Event("giveback", m, rc, r.detail())
		case Expanded:
			rc.Status = Relayed
			ev.Event("expand", m, rc, r.detail())
			expanded = expandInto(m, r.Rcpt, r.Expand, r.Owned) || expanded
			if takenCopy[r.Rcpt] {
				// The members of a group taken over from a primary are
				// taken over with it: the primary expanded the group
				// itself and may have written them into the mailbox
				// before a lost commit. They carry no primary of their
				// own, so the record is marked (MayRepeat): their
				// delivery here keeps what it finds, a relay carries the
				// mark on.
				m.MayRepeat = true
			}
		case FailedPerm:
			rc.Status = Failed
			if _, ok := early[r.Rcpt]; !ok { // else a job's commit made its DSN and event (jobcommit.go)
				failed = append(failed, r.Rcpt)
				ev.Event("fail", m, rc, r.detail())
			}
		case Held, throttled:
			if r.Outcome == throttled {
				throttledAny = true
				// It waits for a slot of its destination: listed in
				// that destination's queue (a taken-over copy stays in
				// its shadow queue), its note the message's last error,
				// due at the recheck — "retry" in every view, never
				// "ready" in the submission queue with no error (rt27d
				// F4).
				if r.Queue != "" && !strings.HasPrefix(prevQueue, "shadow:") {
					rc.Queue = r.Queue
				}
				m.LastError, deferredAny = r.Reply, true
			} else {
				rc.Queue = r.Queue
				heldIn = append(heldIn, queueOf(rc))
			}
			if heldBy(r.Reply) != "" {
				// A copy taken over and untried here stays so: the
				// hold's note carries the takeover's (carryTakeover).
				// The hold's words are the operator's here: no host
				// said them, so none is named beside them (a DSN would
				// quote them as that host's reply; sched26); the host's
				// reply it replaces is kept apart (holdOver). A claim's
				// Held result that carries the recipient's own reply
				// (start, a DSN due) is made the hold's below (heldNow)
				// while its queue is suspended.
				holdOver(rc, r.Reply)
			} else {
				rc.LastReply = r.Reply
			}
		default:
			m.LastError = rc.LastReply
			deferredAny = true
			if !stillDead {
				detail := r.detail()
				if r.Outcome == deadWait {
					// The mark carrying the recipient's own last real
					// reply (deadWaitReply), as message show reads it:
					// the bare mark r carries said nothing of why it
					// still waits (rt33 F2).
					detail = rc.LastReply
				}
				ev.Event("defer", m, rc, detail)
			}
		}
		if taken {
			rc.Queue = prevQueue
		}
	}
	if attemptedAny && !deferredAny {
		// The failure the last error described ended with this attempt
		// (relayed, delivered, failed for good): it is not shown any more.
		m.LastError = ""
	}
	for _, i := range attempted {
		if !got[i] && !m.Rcpts[i].Status.Done() {
			attemptedAny = true
			// Umbra's own diagnostic: no host of this attempt is known,
			// and the last attempt's host did not say it (dsnReporter).
			m.Rcpts[i].NextHop, m.Rcpts[i].LastReply = "", noResultReply
		}
	}
	m.CrashCount = 0
	heldSwaps := q.heldNow(m)
	seenHeld := map[string]bool{}
	for _, i := range m.Pending() {
		if name := queueOf(&m.Rcpts[i]); !seenHeld[name] && m.Rcpts[i].Queue == name && q.IsSuspended(name) {
			seenHeld[name] = true
			q.knowHeldDest(context.Background(), m, i) // planned without I/O: no wait on a peer
		}
	}

	var delayed []int
	pending := m.Pending()
	// A recipient that only waited for its destination's share of the
	// active set was not attempted: a short recheck, no retry step.
	// untriedOnly: every pending recipient only waited — held in a
	// suspended queue, throttled, or answered by a dead destination —
	// no connection made for it.
	untriedOnly := true
	var recheck time.Duration
	busyAny := false // a recipient turned away busy: due at the recheck
	for _, r := range results {
		recheck = max(recheck, r.wait)
		busyAny = busyAny || r.Outcome == throttled && outcome[r.Rcpt] == throttled
	}
	// Each recipient a dead destination answered is due when its
	// destination's cool-down ends, or at once when this attempt ends
	// after it (another job held it open: rt33 F1): the message is due
	// at the earliest of its recipients' times — not at the latest
	// cool-down's end of two dead destinations, nor at the retry step
	// of a sibling the attempt tried.
	if !deadDue.IsZero() && deadDue.Before(now) {
		deadDue = now
	}
	for _, i := range pending {
		if got[i] && outcome[i] != throttled && outcome[i] != deadWait && outcome[i] != Held || !got[i] && slices.Contains(attempted, i) {
			untriedOnly = false
		}
	}
	onlyThrottled := throttledAny && untriedOnly
	// An operator's retry is not a scheduled attempt: it uses no step of
	// the retry schedule (the wait after it is the step the message was
	// on).
	manual := m.ManualRetry
	// The next attempt an operator's retry replaced (keepRetryNext).
	beforeRetry, hadRetry := q.retryNext.LoadAndDelete(m.ID)
	// An attempt that leaves recipients pending counts (a retry step)
	// unless it was an operator's retry, cut by the stop, or only
	// throttled: those count as no attempt (README).
	counts := attemptedAny && !interrupted && !onlyThrottled && !manual
	if attemptedAny {
		m.ManualRetry = false
		// Its events say the number of this attempt, 1-based, whatever
		// their outcome (rt20d-F5): the count message show gives after a
		// deferral, one more than that count after a relay or delivery.
		// An attempt that counts as none and leaves recipients pending
		// says the count it leaves, as message show does (rt21c L6: the
		// log said attempts=2 after an operator's retry, show 1).
		n := attemptsBefore + 1
		if len(pending) > 0 && !counts {
			n = attemptsBefore
		}
		ev.counted(n)
	}
	delayFlipped := false // this attempt made the delay notice: the copy elsewhere is owed a delay note (delaynote.go)
	if len(pending) > 0 {
		if counts {
			m.Attempts++
		}
		age := now.Sub(m.OrgArrived()) // the organisation's, not this server's (rt21d M3)
		// The expiry rule of the claim and of a waiting job (expiryBinds):
		// a copy taken over and never tried here — no counted attempt,
		// no host's reply kept, no notice — is not failed by an attempt
		// that only waited for slots, was held in a suspended queue, or
		// that the stop cut; its pending recipients get their first
		// attempt, as at a claim (rt31d F2; held: sched33).
		// Every other message is bound (rt32d F3); its DSN says why in
		// words when no host replied (notAttempted).
		unbound := (interrupted || untriedOnly) && !expiryBinds(m, false)
		if age >= pol.MessageExpiration && !unbound {
			for _, i := range pending {
				rc := &m.Rcpts[i]
				rc.Status = Failed
				code := "550 5.4.7" // delivery time expired: a permanent failure (RFC 3463), its class the reply's
				if m.RequireTLS && (strings.Contains(rc.LastReply, RequireTLSMark) || strings.Contains(rc.HopReply, RequireTLSMark)) {
					code = "550 5.7.10" // no verified TLS to the end (RFC 8689)
				}
				if queue, hop, host, ok := heldHopReply(*rc); ok {
					// Held in a suspended queue after its next hop
					// answered: the expiry quotes that hop's reply, from
					// that host, and says the hold beside it
					// (heldover.go), not the hold alone.
					rc.LastReply, rc.NextHop = expiredHeldReply(code, queue, expiredAge(age), hop), host
					rc.HopReply, rc.HopHost = "", ""
					failed = append(failed, i)
					ev.Event("fail", m, rc, ShownReply(m, i))
					continue
				}
				last := realReply(rc.LastReply) // the host's, not the dead mark
				if bare, ok := withoutTakeover(rc.LastReply); ok {
					// A mark carrying a taken-over copy's note (a hold, the
					// stop, a throttle, a dead mark: carryTakeover) is
					// quoted bare — what kept it — as withRealReplies
					// reports it, not the takeover's 4.4.0 (rr33).
					last = bare
				}
				rc.LastReply = expiredReply(code, age, last)
				failed = append(failed, i)
				ev.Event("fail", m, rc, ShownReply(m, i)) // no host's reply: the reason in words
			}
		} else {
			// Past the expiry unbound: no notice with a Will-Retry-Until
			// gone by — its first attempt's end makes the failure.
			if pol.DelayNotification > 0 && age >= pol.DelayNotification && age < pol.MessageExpiration && !m.DelayNotified {
				m.DelayNotified, delayFlipped = true, true
				delayed = q.delayOwedHere(m, pending, m.OrgArrived().Add(pol.DelayNotification))
			}
			m.State = Ready
			if interrupted || expanded {
				m.NextAttempt = now // a group's members are due at once
			} else if onlyThrottled {
				m.NextAttempt = deadDue
				if busyAny || deadDue.IsZero() {
					if at := now.Add(max(recheck, time.Second)); m.NextAttempt.IsZero() || at.Before(m.NextAttempt) {
						m.NextAttempt = at
					}
				}
			} else if attemptedAny {
				m.NextAttempt = now.Add(pol.backoff(m.Attempts))
				for _, r := range results {
					if r.notBefore.After(m.NextAttempt) {
						m.NextAttempt = r.notBefore // not its dead destination's probe (jobDone)
					}
				}
				if !deadDue.IsZero() && deadDue.Before(m.NextAttempt) {
					m.NextAttempt = deadDue
				}
			} else {
				m.NextAttempt = now.Add(holdRecheck) // every pending recipient is held
				parked = true
			}
			if t, _ := beforeRetry.(time.Time); manual && hadRetry && t.Before(m.NextAttempt) {
				// An operator's retry (keepRetryNext) whose attempt left
				// recipients pending — turned away busy, refused at RCPT
				// or DATA, no connection, a dead destination — is due
				// when it was before the retry, if that is sooner: the
				// retry's own attempt restarts no step of the schedule
				// from its time (rt38 F2: due 35 s later after a retry
				// 5 s before its 40 s step ended). Its time gone by while
				// the attempt ran: due now.
				m.NextAttempt = maxTime(t, now)
			}
			// No retry step passes the message's expiry, nor its delay
			// notice still owed (rt23d F1): the claim then fails it as
			// expired, or makes the attempt whose commit makes the
			// notice for what stays pending. Nor does a hold's recheck:
			// a message held in a suspended queue gets its notice and
			// its expiry on time too (sched24).
			if !unbound || q.dueBy(m, false).After(now) {
				m.NextAttempt = q.noLaterThanDue(m, m.NextAttempt)
			}
		}
	}

	// A sender still waiting for its reply (SR-9) whose every recipient
	// was refused now gets the refusal instead of a DSN (SMTP-7).
	refusal := q.claimRefusal(m, failed)
	failDSN := -1 // index in dsns of the DSN that carries the discard
	// Recipients a failure DSN of this commit reports: partial discards
	// leave them out until that DSN has left (reportedcopy.go). One a
	// success DSN reports is not left out: that DSN is marked held here
	// only and copied, as when it comes with the full discard (rt36 F3).
	var inDSN map[int]bool
	var dsns []*Message
	var dsnKinds []Notify // dsns' kinds, for their events
	var dsnBodies [][]byte
	for _, d := range []struct {
		kind  Notify
		rcpts []int
	}{{NotifyFailure, failed}, {NotifyDelay, delayed}, {NotifySuccess, delivered}} {
		var want []int
		for _, i := range d.rcpts {
			if m.Rcpts[i].Notify.Wants(d.kind) {
				want = append(want, i)
			}
		}
		if len(want) == 0 {
			continue
		}
		if m.Redelivered() {
			q.logNoRedeliveryDSN(m, d.kind, len(want))
			continue
		}
		if d.kind == NotifyFailure && refusal == nil && m.From != "" { // a DSN made below reports them
			if inDSN == nil {
				inDSN = map[int]bool{}
			}
			for _, i := range want {
				inDSN[i] = true
			}
		}
		if d.kind == NotifyFailure && refusal != nil {
			if refusal.left {
				q.log.Info("no DSN: the sender left before its reply, and no 250 was given", "msg_id", m.ID.String())
			} else {
				q.log.Info("no DSN: the waiting sender gets the refusal", "msg_id", m.ID.String())
			}
			continue
		}
		if m.From == "" {
			q.log.Info("no DSN for a message from the null sender", "msg_id", m.ID.String(), "kind", dsnKindName(d.kind))
			continue
		}
		dm, db := q.newDSN(m, body, d.kind, want, now, pol)
		dsnKinds = append(dsnKinds, d.kind)
		if d.kind == NotifyFailure {
			failDSN = len(dsns)
		}
		dsns, dsnBodies = append(dsns, dm), append(dsnBodies, db)
	}
	// A DSN of this server's too big for the way back goes again with
	// the headers only (dsnrefit.go); it carries what the first carried.
	var refit *Message
	var refitBody []byte
	if m.Redelivered() {
		// No DSN of a redelivery copy (above), headers only neither.
	} else if failed, refit, refitBody = refitDSN(m, body, failed, func() ID { return q.store.NewID(now) }, now); refit != nil {
		q.log.Info("DSN too big for the way back: sent again with the headers only", "msg_id", m.ID.String(), "dsn", refit.ID.String(),
			"reply", m.Rcpts[0].LastReply)
		failDSN = len(dsns)
		dsns, dsnKinds, dsnBodies = append(dsns, refit), append(dsnKinds, NotifyFailure), append(dsnBodies, refitBody)
	}

	done := len(m.Pending()) == 0
	discard := done && m.ShadowServer != "" && m.ShadowID != ""
	// A success (or delay) DSN carries no discard: its recipients are
	// done, and holding the copy until the notice has left would let a
	// takeover send the whole message again to every one of them, for as
	// long as the return path defers (rt36 F3). It is marked held by this
	// server only instead, in the same commit (doc.go, "DSNs and shadow
	// copies").
	shadowState := m.State
	// Final deliveries per database, in recipient order.
	var dbs []string
	perDB := map[string][]int{}
	for _, i := range final {
		db := finalDB[i]
		if perDB[db] == nil {
			dbs = append(dbs, db)
		}
		perDB[db] = append(perDB[db], i)
	}
	var dupDBs []string
	var dupPer map[string][]int
	if len(dupDB) > 0 { // rare: nothing is allocated for the usual attempt
		dupPer = map[string][]int{}
		for i := range m.Rcpts {
			if db, ok := dupDB[i]; ok {
				if dupPer[db] == nil {
					dupDBs = append(dupDBs, db)
				}
				dupPer[db] = append(dupPer[db], i)
			}
		}
	}
	var afters []func()
	var foundKept []int  // suppressed duplicates kept as deliveries (the redelivery bucket)
	foundRepeat := false // and their message repeats an attempt whose results were lost (markRepeat)
	tookOver := false    // a takeover while in delivery (each run of the commit's function says anew)
	settledDone := false // the commit's early discards settled the last pending recipient
	dsnOwesDiscard := false
	var earlyCarrier ID     // the failure DSN made earlier that carries the discard instead (earlydsn.go)
	carriedTo := ""         // this DSN, made to carry its original's discard while in delivery, wrote it (earlydsn.go)
	var reportedTo []string // the servers a DSN's departure owes a partial discard, or this commit a delay note (reportedcopy.go, delaynote.go)
	// The DSNs of a message that had a shadow copy, or was marked held
	// here only, are marked held by this server only in the commit that
	// makes them, save the one that carries the discard (the copy covers
	// it): once the discard is written, by this commit, by the failure
	// DSN's end or by the last recipient's, nothing else covers them.
	singleDSNs := false
	// Results nobody waits for ride along with the next commit (a
	// receipt's, usually) instead of paying one of their own: at most
	// the store's DeferLimit later, and never when a sender, a shadow
	// server or shutdown waits on them (deferResults).
	// Recipients finished while others stay pending: a partial discard
	// may be owed to the shadow server (partialdiscard.go).
	partialOwed := !done && m.ShadowServer != "" && m.ShadowID != ""
	update := func(fn func(*Tx) error) error {
		return q.commitResults(m, refusal != nil, discard || partialOwed, interrupted, fn)
	}
	var partial []string // the addresses of the partial discard this commit wrote
	holdUntil := m.NextAttempt
	handed()
	// noteFirst: this commit was to make the delay notice, and the
	// stored record is marked already — a primary's delay note applied
	// after the attempt's end read its mark (complete: a.noticed),
	// which found the attempt still registered (delaynote.go). Read in
	// the commit, ordered after every note: the notice went from the
	// primary, none is made here.
	noteFirst := false
	// The function runs again after a failed try (a group's commit tried
	// alone, pendingresults.go): each run starts from the message as the
	// attempt left it, not as the failed run changed it in memory (the
	// discards kept aside settle recipients, a quarantine absorbs them, a
	// takeover makes them pending again) — a run that found a recipient
	// settled already wrote neither its handed note nor the takendone
	// note the failed run had written (takenhanded.go), and the returning
	// primary delivered its original again. What the run decides it
	// reads from the transaction, which a failed try left as it was.
	restore := rerunnable(m) // shadowadmin.go
	// The attempt this end commits (complete: still registered until it
	// returns), whose dumpster copies kept in the commit are umbra's
	// code on the message (keepOwn).
	var inAttempt *attempt
	if v, ok := q.inDelivery.Load(m.ID); ok {
		inAttempt, _ = v.(*attempt)
	}
	commit := func(tx *Tx) error {
		restore()
		// A failure DSN made to carry its original's discard while it was
		// in delivery (earlydsn.go) is, for this commit, the carrier its
		// stored record says: its end writes the discard, a copy made of
		// it again with the headers only (refit) carries it on, and a
		// write of it keeps it.
		carriedNow := false
		if cs, cid := tx.carriedInDelivery(m); cs != "" {
			m.ShadowServer, m.ShadowID = cs, cid
			carriedNow = true
		}
		unheldResumed(tx, m, heldSwaps)
		tookOver, settledDone = false, false
		ev.settled = nil
		if failDSN >= 0 {
			dsns[failDSN].ShadowServer, dsns[failDSN].ShadowID = "", ""
		}
		afters = afters[:0]
		reportedTo = nil
		noteFirst = false
		if delayFlipped {
			if old, err := tx.Get(m.ID); err == nil && old.DelayNotified {
				noteFirst = true
			}
		}
		delayedNow := delayed // the recipients whose delay notice this commit makes
		if noteFirst {
			delayedNow = nil
		}
		dsnOwesDiscard, earlyCarrier, carriedTo = false, 0, ""
		singleDSNs = len(dsns) > 0 && (m.ShadowServer != "" && m.ShadowID != "" || tx.markedSingle(m.ID))
		partial = nil
		for _, db := range dbs {
			for _, i := range perDB[db] {
				if err := tx.RecordDelivered(db, m.OrgID, m.Rcpts[i].Addr, now); err != nil {
					return err
				}
			}
			if q.cfg.Dumpster != nil {
				var after func()
				err := q.keepOwn(inAttempt, func() (err error) {
					after, err = q.cfg.Dumpster.Keep(tx, m, body, db, perDB[db], now)
					return err
				})
				if err != nil {
					return fmt.Errorf("dumpster: %w", err)
				}
				if after != nil {
					afters = append(afters, after)
				}
			}
		}
		// A redelivery copy's recipients failed (refused, expired): their
		// dumpster copy is kept again (keepback.go).
		var back []func()
		if err := q.keepOwn(keptBack(m, failed, inAttempt), func() (err error) {
			back, err = q.keepBack(tx, m, body, failed, now)
			return err
		}); err != nil {
			return err
		}
		afters = append(afters, back...)
		// A copy the mailbox store had already, of a message a redelivery
		// request took from the dumpster or attempted again after an
		// attempt whose results were lost (this server's own write,
		// whose record and dumpster copy went with that commit): kept
		// and recorded as a delivery (dumpster.go, the redelivery
		// bucket). A recipient this server has the record of has its
		// copy from that delivery's commit.
		// A copy taken over from a primary is, for the mailbox, a
		// repeat of the primary's attempt, whose results may have been
		// lost with it (a kill -9 between its write and its commit):
		// the copy it finds is kept too, for its taken-over recipients
		// (dumpster.go, the redelivery bucket) — the primary, back,
		// drops its original as finished here and keeps none. So is a
		// copy the server that took it over handed on here (MayRepeat,
		// orgid.RepeatHeader): the primary drops its original as
		// finished by that server, which kept nothing either.
		if !m.MayRepeat {
			// A copy marked MayRepeat merged into this message while the
			// attempt ran (carried.go: markMayRepeat): its recipients
			// pending as the attempt began are that copy's too.
			if old, err := tx.Get(m.ID); err == nil && old.MayRepeat {
				m.MayRepeat = true
				for i, st := range before {
					if st == Pending {
						if takenCopy == nil {
							takenCopy = map[int]bool{}
						}
						takenCopy[i] = true
					}
				}
			}
		}
		foundKept = foundKept[:0]
		foundRepeat = false
		if marked := tx.keepsFoundCopy(m.ID); len(dupDBs) > 0 && (marked || len(takenCopy) > 0) {
			foundRepeat = marked && tx.repeatsLostAttempt(m.ID)
			for _, db := range dupDBs {
				var own []int
				for _, i := range dupPer[db] {
					if !marked && !takenCopy[i] {
						continue
					}
					if tx.WasDelivered(db, m.OrgID, m.Rcpts[i].Addr) {
						continue
					}
					if err := tx.RecordDelivered(db, m.OrgID, m.Rcpts[i].Addr, now); err != nil {
						return err
					}
					own = append(own, i)
				}
				if len(own) == 0 {
					continue
				}
				foundKept = append(foundKept, own...)
				if q.cfg.Dumpster == nil {
					continue
				}
				var after func()
				err := q.keepOwn(inAttempt, func() (err error) {
					after, err = q.cfg.Dumpster.Keep(tx, m, body, db, own, now)
					return err
				})
				if err != nil {
					return fmt.Errorf("dumpster: %w", err)
				}
				if after != nil {
					afters = append(afters, after)
				}
			}
		}
		// A primary may have sent a discard while this message was in
		// delivery (ApplyDiscards kept it aside) — for a recipient
		// shadowed now or by an earlier attempt, or taken over from it
		// and still pending: apply it now, one discard to every
		// recipient shadowed or taken over under its id. When it
		// settled the last pending recipient the message is done.
		// Not to a copy this attempt made that the discard may
		// predate (freshCopies).
		// A quarantine committed while this message was in delivery
		// settles its copies of the quarantined recipients, taken-over
		// ones still pending included (quarantine.go).
		absorbed := settleForQuarantine(tx, m)
		// Recipients of a copy taken over for failed heartbeats that this
		// attempt handed to another transport server in a shadow session:
		// noted for their primary, for that server's discard to turn into
		// a takendone note (takenhanded.go) — before the discards kept
		// aside are applied (that server may have delivered and
		// discarded the copy while this attempt was still committing).
		if err := tx.noteHanded(m, since, now); err != nil {
			return err
		}
		settled, err := applyEarlyDiscards(tx, m, freshCopies(m, results, before))
		if err != nil {
			return err
		}
		ev.settled = tx.claimSettledEarly(m.ID) // tracked after the results' events
		settledDone = (settled || absorbed) && !done && len(m.Pending()) == 0
		// A takeover while this message was in delivery, or a primary
		// that presented another database since the copy was made: the
		// recipients are this server's again (one writer, see doc.go).
		t, after, err := q.shadowTransitions(tx, m, results, early, now)
		if err != nil {
			return err
		}
		tookOver = t
		if after != nil { // its warning, once the commit returned
			afters = append(afters, after)
		}
		// Recipients of a copy taken over for failed heartbeats that this
		// commit finishes, or whose delay DSN it makes: noted for their
		// primary, should it return with its database (takendone.go).
		// Before the write of m, whose index entries it reads.
		if err := tx.noteTakenDone(m, since, delayedNow, leftOrg(results), now); err != nil {
			return err
		}
		done := (done || settledDone) && !tookOver
		discard := (discard || (settledDone || carriedNow && done) && m.ShadowServer != "" && m.ShadowID != "") && !tookOver
		keep := done && hasShadowed(m) // a shadow copy stays for its primaries
		m.State = shadowState
		if keep {
			m.State = Shadow
		}
		if parked {
			// The hold is read in this commit: a resume committed since
			// the attempt saw its queue suspended found the message in
			// delivery and left it, so the hold it lifted is not kept.
			m.NextAttempt = holdUntil
			if tx.anyResumed(heldIn) {
				m.NextAttempt = now
			}
		}
		if tookOver {
			m.State, m.NextAttempt = Ready, now
		}
		// A DSN made again with the headers only reports what the
		// first reported: the copy's recipients it names are owed
		// their partial discard when it leaves (reportedcopy.go).
		if refit != nil {
			if err := tx.moveReported(m.ID, refit.ID); err != nil {
				return err
			}
		}
		if done {
			// Nothing of it is this server's to deliver any more: its
			// mark goes (a takeover's, or one whose copy was made
			// again while this attempt ran: heldPrefix), and the
			// servers a copy made again was pushed to get its discard
			// (takensingle.go) — not only an hour later, at their
			// question (XQUERYHELD), which a crash here would turn into
			// a takeover and a second delivery (rt18b F1). The delete
			// does so itself; a record kept as a shadow copy settles
			// it here.
			// Marked held by this server only at its end (its copy
			// lost, or settled by a hold and made again nowhere yet:
			// the discard of the copy its record names is owed or
			// written by this commit's settling of the mark), it has
			// no copy that covers anything: no DSN of it carries the
			// discard, and its failure DSN is marked as the others
			// are (enteredsingle.go). Read before the mark goes.
			uncovered := tx.markedSingle(m.ID)
			// Unless its copy was made again while this attempt ran
			// (heldPrefix): that copy, durable at its holder, covers
			// the message as a named one does. It is named here, as
			// nameCopyHolder names it (on h under the org id), so
			// that the failure DSN carries its discard instead of the
			// mark's settling writing it now (the DSN on this disk
			// alone); the copy the record named gets its discard (lost
			// or settled, it covers nothing), the others the mark
			// names theirs, and the mark goes, in this commit.
			if h := tx.heldCopy(m.ID); uncovered && h != "" && m.OrgID != "" && !keep {
				if m.ShadowServer != "" && m.ShadowID != "" && !(sameServer(h, m.ShadowServer) && m.ShadowID == m.OrgID) {
					if _, err := tx.addDiscardFor(m.ID, m.OrgID, m.ShadowServer, m.ShadowID, now); err != nil {
						return err
					}
				}
				m.ShadowServer, m.ShadowID = h, m.OrgID
				if err := tx.settleSingleMark(m, now); err != nil { // save m's own copy, now h's
					return err
				}
				discard, uncovered = true, false
			}
			// A failure DSN that left: the recipients it reports are
			// owed their partial discard (reportedcopy.go).
			servers, err := tx.settleReported(m, now)
			if err != nil {
				return err
			}
			reportedTo = servers
			// A failure DSN made to carry its original's discard while
			// it was in delivery (earlydsn.go): it owes it now.
			if cs, cid := tx.carriedInDelivery(m); cs != "" {
				if _, err := tx.addDiscardFor(m.ID, m.OrgID, cs, cid, now); err != nil {
					return err
				}
				carriedTo = cs
			}
			if keep {
				if err = tx.settleSingleMark(m, now); err == nil {
					err = tx.Put(m)
				}
			} else {
				err = tx.Delete(m.ID)
			}
			if err != nil {
				return err
			}
			// Every recipient is done (SR-4): the shadow server may now
			// drop its copy. The notification is part of this commit —
			// unless this commit also made the failure DSN: that DSN
			// exists only here until it leaves, so it carries the
			// discard and owes it when it is done (doc.go, "DSNs and
			// shadow copies"); until then the shadow copy covers it.
			// Another record here under the same shadow id may still
			// need the copy (siblingcopy.go): its end writes the
			// discard, and the DSN carries none (carried, its end would
			// settle that record's copy).
			if discard && tx.copyNeededElsewhere(m.ID, m.OrgID, m.ShadowServer, m.ShadowID) {
				discard = false
			}
			// A failure DSN made before this commit, while other
			// recipients were pending (a job's own commit, an earlier
			// attempt), still here: it carries the discard as this
			// commit's would (earlydsn.go).
			// Not a message marked held here only (uncovered): the
			// discard is written now, and its DSNs stay marked.
			if discard && failDSN >= 0 && !uncovered {
				dsns[failDSN].ShadowServer, dsns[failDSN].ShadowID = m.ShadowServer, m.ShadowID
				dsnOwesDiscard = true
			} else if discard {
				var id ID
				ok := false
				if !uncovered {
					if id, ok, err = tx.earlyDSNCarries(m); err != nil {
						return err
					}
				}
				if ok {
					earlyCarrier, dsnOwesDiscard = id, true
				} else if err := tx.AddDiscard(m.ShadowServer, m.ShadowID, now); err != nil {
					return err
				}
			}
		} else {
			if !m.DelayNotified {
				// A primary's delay note applied while the attempt
				// ran, after its end read the attempt's mark
				// (delaynote.go): kept.
				if old, err := tx.Get(m.ID); err == nil && old.DelayNotified {
					m.DelayNotified = true
				}
			}
			w := m
			if cs, cid := tx.carriedInDelivery(m); cs != "" {
				// A failure DSN made to carry its original's discard
				// while it was in delivery (earlydsn.go): kept.
				c := *m
				c.ShadowServer, c.ShadowID = cs, cid
				w = &c
			}
			if err := tx.Put(w); err != nil {
				return err
			}
		}
		// The recipients finished by this commit, of a message whose copy
		// elsewhere could come back: not delivered again (finished.go).
		if err := tx.noteFinished(m, since, outcome, leftOrg(results), now); err != nil {
			return err
		}
		// Some recipients finished, the copy elsewhere not settled whole
		// by this commit: a partial discard names them (partialdiscard.go;
		// doc.go, "Partial discards"). Not after a takeover here (the
		// recipients are this server's again), nor with the full discard.
		if m.ShadowServer != "" && m.ShadowID != "" && !tookOver && (!discard || dsnOwesDiscard) {
			addrs, err := tx.finishedForCopy(m, since, outcome, inDSN)
			if err != nil {
				return err
			}
			if len(addrs) > 0 {
				if err := tx.AddPartialDiscard(m.ShadowServer, m.ShadowID, addrs, now); err != nil {
					return err
				}
				partial = addrs
			}
			// Those its failure DSN reports are owed theirs once that
			// DSN has left (reportedcopy.go), unless it carries the
			// full discard.
			if err := tx.noteReportedFor(m, m.ShadowServer, m.ShadowID, since, outcome, inDSN, dsns, failDSN, dsnOwesDiscard); err != nil {
				return err
			}
		}
		// The delay notice this commit made: the copy elsewhere, which
		// still covers pending recipients, must not send another after
		// a takeover (delaynote.go).
		if delayNoteOwed(m, delayFlipped && !noteFirst, m.ShadowServer, m.ShadowID) && !tookOver && !discard {
			if err := tx.AddDelayNote(m.ShadowServer, m.ShadowID, now); err != nil {
				return err
			}
			reportedTo = append(reportedTo, m.ShadowServer)
		}
		// A copy made again while this attempt ran (heldPrefix), not
		// named by the record yet: the recipients the attempt finished
		// are owed to it as to a named copy, or its holder would deliver
		// them again after a takeover (rt18b F1).
		if !done && !tookOver && m.OrgID != "" {
			if h := tx.heldCopy(m.ID); h != "" && (!sameServer(h, m.ShadowServer) || m.ShadowID != m.OrgID) {
				hm := *m
				hm.ShadowServer, hm.ShadowID = h, m.OrgID
				addrs, err := tx.finishedForCopy(&hm, since, outcome, inDSN)
				if err != nil {
					return err
				}
				if len(addrs) > 0 {
					if err := tx.AddPartialDiscard(h, m.OrgID, addrs, now); err != nil {
						return err
					}
				}
				if err := tx.noteReportedFor(&hm, h, m.OrgID, since, outcome, inDSN, dsns, failDSN, false); err != nil {
					return err
				}
				if delayNoteOwed(m, delayFlipped && !noteFirst, h, m.OrgID) {
					if err := tx.AddDelayNote(h, m.OrgID, now); err != nil {
						return err
					}
					reportedTo = append(reportedTo, h)
				}
			}
		}
		for i, dm := range dsns {
			if noteFirst && dsnKinds[i] == NotifyDelay {
				continue // the primary's went
			}
			if err := tx.PutNew(dm, dsnBodies[i]); err != nil {
				return err
			}
			// On this disk alone until the re-make pass copies it
			// (enteredsingle.go): marked as its original was, or where
			// this server makes copies. The DSN that carries the
			// discard names the copy that covers it, and is not.
			if _, err := tx.markEnteredSingle(dm, now, singleDSNs || tx.makesCopies()); err != nil {
				return err
			}
		}
		// A discard kept aside that matched no copy above names one no
		// record holds (a relay whose 250 was lost): spent, it must not
		// settle the copy the next attempt makes under its id
		// (earlyspent.go).
		return tx.dropSpentEarlyDiscardsOf(m.ID)
	}
	// What follows from committed results (events, waiters, discard
	// signals): after the commit, this one or a retry of it.
	committed := func() {
		errsCommitted()
		if carriedTo != "" {
			q.ev.Event("discard", m, nil, "discard notification for "+carriedTo+" prepared: carried by this DSN")
		}
		// The commit woke the long polls of the servers it owes these
		// notifications (owedsignal.go).
		for _, server := range reportedTo {
			what := "partial discard notification for " + server + " prepared: the recipients this DSN reports"
			if !m.OwnDSN() {
				what = "delay note for " + server + " prepared: the delay DSN went from here"
			}
			q.ev.Event("discard", m, nil, what)
		}
		made, madeKinds, madeFail := dsns, dsnKinds, failDSN // the DSNs this commit wrote
		if noteFirst {
			made, madeKinds, madeFail = nil, nil, -1
			for i, dm := range dsns {
				if dsnKinds[i] == NotifyDelay {
					continue
				}
				if i == failDSN {
					madeFail = len(made)
				}
				made, madeKinds = append(made, dm), append(madeKinds, dsnKinds[i])
			}
		}
		q.resultsCommitted(m, ev, afters, foundKept, foundRepeat, dupDB, settledDone, tookOver, made, madeKinds, failed,
			done, discard, dsnOwesDiscard, madeFail, earlyCarrier, partial)
	}
	// The events of these results are written after their commit; a
	// discard the next hop sends for the copy they hand over can be
	// committed in between: its event waits for them (eventorder.go).
	q.evOrder.hold(m.ID)
	err := update(commit)
	refusal.answer(m, err == nil)
	if err != nil {
		// The message stays Active in the database, in no time index.
		// Its results stay in memory and their commit is tried again
		// (pendingresults.go): what the next hops and mailboxes took is
		// not handed to them again while the disk is full. Only a stop
		// before that commit goes through loses them (Recover repeats
		// the attempt: a duplicate, never a loss). A sender that waited
		// for its refusal was answered without one: the attempt, which
		// handed nothing on, is made again instead (stranded.go), and
		// its failure DSN is made then.
		if errors.Is(err, ErrClosed) {
			q.evOrder.release(m.ID) // not tried again: no events of these results
			q.log.Error("committing delivery results failed; the message is attempted again at the next start", "msg_id", m.ID.String(), "err", err)
		} else if refusal != nil {
			q.evOrder.release(m.ID) // not tried again: no events of these results
			q.strandFailed("committing delivery results failed; the message is attempted again", m.ID, err)
		} else {
			// The retry that commits them writes their events, and
			// ends the hold then (resultsCommitted).
			q.pendResults(m, slices.Sorted(maps.Keys(got)), commit, committed, err)
		}
		// Its result events are written when the results are committed.
		return
	}
	committed()
}

// newDSN makes the DSN of kind on m for its recipients rcpts, and its
// body: a new message of this server's to m's sender, due now.
func (q *Manager) newDSN(m *Message, body Body, kind Notify, rcpts []int, now time.Time, pol Policy) (*Message, []byte) {
	dm := &Message{ID: q.store.NewID(now), State: Ready, Arrived: now, NextAttempt: now,
		Connector: "dsn", Internal: true, Rcpts: []Recipient{{Addr: m.From, Notify: NotifyNever}}}
	dm.MessageID, dm.ReportOn, dm.ReportOnMessageID = dsnMessageID(dm.ID, q.cfg.Hostname), m.ID, m.MessageID
	db := BuildDSNBody(q.cfg.Hostname, q.deadNotBusy(m, rcpts, now), body, kind, rcpts, now, m.OrgArrived().Add(pol.MessageExpiration), dm.ID, q.cfg.BounceSizeLimit, pol.Inside)
	dm.Size = int64(len(db))
	dm.UTF8 = DSNNeedsSMTPUTF8(m) // 7-bit unless the sender's address is not ASCII (dsn7bit.go)
	dm.RequireTLS = m.RequireTLS  // the DSN goes with REQUIRETLS too (RFC 8689 §5)
	return dm, db
}

// resultsCommitted is what finish does once an attempt's results are
// committed: by its own commit, or by a retry of it (pendingresults.go).
func (q *Manager) resultsCommitted(m *Message, ev *heldEvents, afters []func(), foundKept []int, foundRepeat bool, dupDB map[int]string,
	settledDone, tookOver bool, dsns []*Message, dsnKinds []Notify, failed []int, done, discard, dsnOwesDiscard bool, failDSN int, earlyCarrier ID, partial []string) {
	ev.emit(q)
	// The hold ends once every event of this commit is written — its
	// recipients' (emit) and its own below (the DSNs it made, its
	// discard notification, a takeover): the events of later commits of
	// m that waited for them come after all of them, in the order of
	// their commits (eventorder.go; front48 item 3: a discard applied
	// meanwhile was written between the hand-over and the DSN).
	defer q.evOrder.release(m.ID)
	for _, f := range afters {
		f()
	}
	for _, i := range foundKept {
		q.log.Info("copy found in the mailbox kept in the dumpster as this server's delivery: the message came back from the dumpster, repeats an attempt whose results were lost, or is a copy taken over from a primary whose attempt may have written it",
			"msg_id", m.ID.String(), "org_id", m.OrgID, "rcpt", m.Rcpts[i].Addr, "database", dupDB[i])
		if foundRepeat {
			// The attempt that wrote it lost its results and its
			// events with them (a stop or a crash before their
			// commit): this is the delivery's only event.
			q.ev.Event("deliver", m, &m.Rcpts[i], "delivered into mailbox database "+dupDB[i]+
				" by an earlier attempt whose results were lost (a stop or a crash before their commit); found there by this one")
		}
	}
	if settledDone {
		done, discard = true, m.ShadowServer != "" && m.ShadowID != ""
	}
	if tookOver {
		done, discard = false, false
		q.ev.Event("takeover", m, nil, "taken over while in delivery")
		q.Kick()
	}
	for i, dm := range dsns {
		q.dsnEvent(dm, dsnKinds[i])
	}
	// A DSN that fails has nobody to go to (the null sender): the
	// original's sender is never told. Not silent: ERROR and the
	// bounce-lost event (counted in umbra_queue_events_total) — for a
	// DSN this server made and for one another server made and relayed
	// here (a loop's hop limit failed it on this server: ops49 F1), as
	// for any null-sender message. No copy goes to the postmaster: it
	// would take the same routes that just failed (a loop sends it round
	// too); the ERROR and the event are the alarm.
	if m.From == "" {
		for _, i := range failed {
			rc := &m.Rcpts[i]
			q.log.Error("bounce lost: a DSN could not be delivered, and its sender is never told", "msg_id", m.ID.String(),
				"next_hop", rc.NextHop, "reply", rc.LastReply, "smtputf8", m.UTF8, "made_here", m.OwnDSN())
			q.ev.Event("bounce-lost", m, rc, rc.LastReply)
		}
	}
	if discard && dsnOwesDiscard && earlyCarrier != 0 {
		q.ev.Event("discard", m, nil, "discard notification for "+m.ShadowServer+" owed by DSN "+earlyCarrier.String()+", made earlier")
	} else if discard && dsnOwesDiscard {
		q.ev.Event("discard", m, nil, "discard notification for "+m.ShadowServer+" owed by DSN "+dsns[failDSN].ID.String())
	} else if discard {
		q.ev.Event("discard", m, nil, "discard notification for "+m.ShadowServer+" prepared") // the commit woke its long poll (owedsignal.go)
	}
	if len(partial) > 0 {
		q.ev.Event("discard", m, nil, fmt.Sprintf("partial discard notification for %s prepared (%d recipients)", m.ShadowServer, len(partial)))
	}
	if done {
		q.notifyHanded(m.ID)
	}
	if done && m.State != Shadow {
		q.noteDeparture(m)
		q.notifyGone(m.ID)
	} else if m.State == Shadow {
		// A copy kept here for the next hop it was handed to: its
		// discard is asked for as the next hop commits it (a watch
		// session's long poll), whether a sender waits (delayed
		// acknowledgement) or not (a copy on receipt made the message's
		// acknowledgement, a plain relay). Left to the heartbeats and
		// the next session's end query it came seconds late, and a kill
		// -9 of the next hop in between made this server take the copy
		// over and deliver it again (rt39 F1).
		q.markShadowedUrgent(m.Rcpts)
	}
	if len(dsns) > 0 {
		q.Kick()
	}
}

// deferResults says whether an attempt's results may wait for another
// commit to ride along with (Store.UpdateDeferred): only when nobody
// waits for them. Not when a sender waits for its delayed
// acknowledgement or its refusal (a waiter on the message, a claimed
// refusal), nor when the commit writes a discard notification a shadow
// server's session waits for (XQUERYDISCARD WAIT=), nor at shutdown.
// The holder of a copy made again while the message was in delivery
// (Tx.heldCopy) is owed the same notifications as the message's own
// shadow server — its delay note, its partial discards, its discard at
// the end — which the commit finds only in its transaction: when that
// holder waits, the commit is not set aside either (one read, only while
// some shadow server waits at all). What a deferral costs is a longer
// window in which a crash repeats the delivery (doc.go, point 4): never
// a loss.
func (q *Manager) deferResults(m *Message, refusal, discard, interrupted bool) bool {
	if interrupted || refusal || q.hasWaiters(m.ID) {
		return false
	}
	if discard && q.dsig.waiting(m.ShadowServer) {
		return false
	}
	if q.dsig.any() {
		var holder string
		q.store.View(func(tx *Tx) error { holder = tx.heldCopy(m.ID); return nil })
		if holder != "" && q.dsig.waiting(holder) {
			return false
		}
	}
	return true
}

// commitResults commits fn, a commit of an attempt's results (its end's,
// a job's, a notice's), set aside for a later commit when deferResults
// allows — and asked again once it is queued: a sender or a shadow
// server that began to wait between the decision and the queueing has
// it committed now (Store.UpdateDeferredUnless), as one that began
// after it has (its Flush).
//
// A commit that fails for want of room goes through the space reserve
// (spacereserve.go) as its retry would (pendingresults.go): given up,
// and the commit tried once more at once — the results of mail a next
// hop or a mailbox took are not left pending in memory, where a crash
// would lose them and the next start hand the message on again. Not an
// attempt that answered a waiting sender's refusal: it handed nothing
// on, and its failed commit makes it again (stranded.go); nor a delay
// notice's commit while a job runs (commitNotice uses commitResultsOnce:
// a new DSN, kept from the reserve the results after it need).
func (q *Manager) commitResults(m *Message, refusal, discard, interrupted bool, fn func(*Tx) error) error {
	err := q.commitResultsOnce(m, refusal, discard, interrupted, fn)
	if !refusal && noRoom(err) && q.store.reserve.release("the delivery results of "+m.ID.String(), err) {
		err = q.store.Update(context.Background(), fn)
	}
	return err
}

// commitResultsOnce is commitResults without the space reserve.
func (q *Manager) commitResultsOnce(m *Message, refusal, discard, interrupted bool, fn func(*Tx) error) error {
	if !q.deferResults(m, refusal, discard, interrupted) {
		return q.store.Update(context.Background(), fn)
	}
	if f := q.deferHook.Load(); f != nil {
		(*f)(m)
	}
	return q.store.UpdateDeferredUnless(fn, func() bool { return !q.deferResults(m, refusal, discard, interrupted) })
}

// dsnEvent raises the "dsn" event of a DSN this server has just made
// (its commit returned): the DSN's own id and Message-ID, the message it
// reports on (tracking: original, original_message_id) and, in the
// reply, what kind of report on which message it is.
func (q *Manager) dsnEvent(dm *Message, kind Notify) { dsnEventTo(q.ev, dm, kind) }

// dsnEventTo is dsnEvent written to ev (a batch of events).
func dsnEventTo(ev Events, dm *Message, kind Notify) {
	reply := "DSN (" + dsnKindName(kind) + ") on " + dm.ReportOn.String()
	if dm.ReportOnMessageID != "" {
		reply += " " + dm.ReportOnMessageID
	}
	ev.Event("dsn", dm, &dm.Rcpts[0], reply)
}

// dsnMessageID is the Message-ID of the DSN id made by host.
func dsnMessageID(id ID, host string) string {
	return "<" + id.String() + ".dsn@" + host + ">"
}

// logNoRedeliveryDSN says that a dumpster redelivery copy's DSN of kind
// for n recipients is not sent (the sender's message was delivered
// before). Only a failure is WARN: it names a copy that was not
// delivered, for the operator to find (README, Dumpster); a success or
// delay notice not sent is the rule for a repair, INFO (rrrcpt40: a
// NOTIFY=SUCCESS recipient's delivered copy logged a WARN each).
func (q *Manager) logNoRedeliveryDSN(m *Message, kind Notify, n int) {
	level := slog.LevelInfo
	if kind == NotifyFailure {
		level = slog.LevelWarn
	}
	q.log.Log(context.Background(), level, "no DSN for a dumpster redelivery copy: the sender's message was delivered before",
		"msg_id", m.ID.String(), "org_id", m.OrgID, "request_id", redeliveryRequest(m.Scan), "kind", dsnKindName(kind), "recipients", n)
}

func dsnKindName(k Notify) string {
	switch k {
	case NotifyFailure:
		return "failed"
	case NotifyDelay:
		return "delayed"
	case NotifySuccess:
		return "delivered"
	}
	return "unknown"
}

func hasShadowed(m *Message) bool {
	for _, r := range m.Rcpts {
		if r.Status == Shadowed {
			return true
		}
	}
	return false
}
