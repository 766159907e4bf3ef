package queue

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Operator actions on shadow copies, and records with nothing left.
//
// A shadow copy (state Shadow) is another server's message, kept here
// only until its primary reports it done (then it is dropped) or fails
// (then it is taken over): this server neither delivers, holds nor
// retries it. suspend, resume and retry of a copy are refused
// (ErrShadowCopy); remove is allowed (the operator drops the copy; with
// --ndr no DSN is made, as no recipient of the copy is pending here: the
// primary reports to the sender). A bulk suspend, resume or retry leaves
// copies alone and says how many (BulkSkip).
//
// A record none of whose recipients is pending or shadowed — every one
// relayed, delivered, discarded or failed with its DSN made — is done:
// settleIdle removes it wherever a message leaves delivery without
// results (a hold), so such a record cannot stay in the database; a
// discard notification removes a copy so emptied in any state but
// Active and Quarantined.

// ErrShadowCopy is returned for an action that does not apply to a
// shadow copy.
var ErrShadowCopy = errors.New("not applicable to a shadow copy")

// shadowCopyPrimary names the primary m's shadow copy is kept for, for a
// refusal's text.
func shadowCopyPrimary(m *Message) string {
	for _, r := range m.Rcpts {
		if r.Status == Shadowed && r.Primary != "" {
			return r.Primary
		}
	}
	return "its primary"
}

// shadowCopyErr explains the refusal for m.
func shadowCopyErr(m *Message, action string) error {
	primary := shadowCopyPrimary(m)
	return fmt.Errorf("%w: message %s is a shadow copy kept for %s, which delivers it; this server cannot %s it: "+
		"the copy is dropped when %s reports the message done, or taken over if %s fails (umbra shadow list)",
		ErrShadowCopy, m.ID, primary, action, primary, primary)
}

// shadowCopyRemoveErr is the refusal of an operator's removal of a
// message holding a shadow copy (a recipient Shadowed) without force:
// the primary's message would be left on one server's disk, and the
// primary would not learn of it (rt36 F1).
func shadowCopyRemoveErr(m *Message) error {
	primary := shadowCopyPrimary(m)
	return fmt.Errorf("%w: message %s holds a shadow copy kept for %s, which delivers the message: removing the copy "+
		"leaves %s's message on one server's disk until %s learns of it at its next probe of this server and makes the copy again "+
		"(a primary whose topology does not name this server — a send_xshadow connector's next hop without a topology — never probes it: "+
		"its message stays on its disk alone until done); "+
		"the copy is dropped when %s reports the message done, or taken over if %s fails (umbra message remove --force removes it anyway)",
		ErrShadowCopy, m.ID, primary, primary, primary, primary, primary)
}

// BulkSkip says why a bulk action (suspend, resume, retry, remove)
// leaves m alone, "" when it applies: bulk selections (--all, a filter)
// skip, rather than fail on, the shadow copies and quarantined messages
// that the action does not apply to (remove applies to quarantined
// messages, and to shadow copies only when forced: BulkSkipForce), and a
// suspend the messages already suspended.
func BulkSkip(action string, m *Message) string {
	return BulkSkipForce(action, m, false)
}

// BulkSkipForce is BulkSkip of a removal with --force (force): it skips
// no shadow copy.
func BulkSkipForce(action string, m *Message, force bool) string {
	switch {
	case action == "remove" && !force && hasShadowed(m):
		return "shadow copies"
	case m.State == Shadow && action != "remove":
		return "shadow copies"
	case m.State == Quarantined && action != "remove":
		return "quarantined (umbra queue quarantine)"
	case m.State == Suspended && action == "suspend":
		return "already suspended"
	}
	return ""
}

// nothingLeft reports whether m has no recipient pending or shadowed.
func nothingLeft(m *Message) bool {
	return len(m.Pending()) == 0 && !hasShadowed(m)
}

// settleIdle writes m back when it leaves delivery without results
// (putLeaving), and then removes it if nothing is left of it, or makes it
// a shadow copy again if only copies are. It reports whether m is gone.
func settleIdle(tx *Tx, m *Message, now time.Time) (gone, took bool, err error) {
	before := statusesNow(m)
	if _, err := applyEarlyDiscards(tx, m, nil); err != nil {
		return false, false, err
	}
	if took, err = applyEarlyTakeovers(tx, m, nil); err != nil {
		return false, false, err
	}
	if took && m.State == Ready {
		// Recipients pending again, never attempted here: due now, as
		// the commit of results makes a takeover (not after a hold).
		m.NextAttempt = now
	}
	// Its own shadow copy elsewhere is owed what the discards kept
	// aside settled: the whole of it when nothing is pending (as with an
	// operator's removal, admin.go) — unless another record here still
	// needs it (siblingcopy.go) — and the recipients settled otherwise
	// (takensingle.go).
	if err := tx.copySettled(m, before, now); err != nil {
		return false, false, err
	}
	if m.State != Quarantined && len(m.Pending()) == 0 {
		if !hasShadowed(m) {
			// One that had nothing pending as it came here (settled
			// before this commit): its copy goes with it all the same.
			if _, err := tx.addCopyDiscard(m, now); err != nil {
				return false, false, err
			}
			return true, took, tx.Delete(m.ID)
		}
		m.State = Shadow
	}
	return false, took, tx.Put(m)
}

// putLeavingTook is putLeaving (shadowstate.go) reporting whether it
// applied a takeover kept aside while m was in delivery: the caller
// tracks it (trackTakeover) once the commit returned, as the commit of
// results does — a takeover is an event operators alert on, whichever
// path applies it (requeue, poison, Recover, hold).
func putLeavingTook(tx *Tx, m *Message) (took bool, err error) {
	if !m.DelayNotified {
		// A primary's delay note applied while the message was in
		// delivery, after its attempt's end read the attempt's mark
		// (delaynote.go): kept, as the commit of results keeps it
		// (finish). m is the message the attempt began with.
		if old, gerr := tx.Get(m.ID); gerr == nil && old.DelayNotified {
			m.DelayNotified = true
		}
	}
	before := statusesNow(m)
	settleForQuarantine(tx, m) // quarantine.go
	if _, err := applyEarlyDiscards(tx, m, nil); err != nil {
		return false, err
	}
	// Its own copy elsewhere is owed what those settled (takensingle.go).
	if err := tx.copySettled(m, before, tx.now()); err != nil {
		return false, err
	}
	if took, err = applyEarlyTakeovers(tx, m, nil); err != nil {
		return false, err
	}
	// A DSN in delivery made to carry its message's copy's discard
	// (earlydsn.go) keeps carrying it when its attempt's copy, which
	// names no copy, is written back (poisoned, requeued).
	if cs, cid := tx.carriedInDelivery(m); cs != "" {
		m.ShadowServer, m.ShadowID = cs, cid
	}
	return took, tx.Put(m)
}

// trackTakeover emits the event of a takeover putLeavingTook applied.
func (q *Manager) trackTakeover(m *Message) {
	q.ev.Event("takeover", m, nil, "taken over while in delivery")
}

// gone reports a record settleIdle removed: its waiters are told, and it
// is tracked as removed with nothing left to deliver.
func (q *Manager) settledGone(m *Message) {
	q.log.Info("message removed: no recipient left to deliver or shadow", "msg_id", m.ID.String())
	q.ev.Event("remove", m, nil, "every recipient done: nothing left to deliver")
	q.notifyGone(m.ID)
}

// holdSettled is hold for a message whose recipients all wait in
// suspended queues — or that has none left to attempt at all.
func (q *Manager) holdSettled(ctx context.Context, m *Message) {
	now := q.clk.Now()
	var queues []string // where its pending recipients wait: every one suspended when attemptable looked
	for _, i := range m.Pending() {
		queues = append(queues, queueOf(&m.Rcpts[i]))
	}
	var gone, took bool
	restore := rerunnable(m)
	if err := q.store.Update(ctx, func(tx *Tx) error {
		restore() // each run from the message as it left delivery
		// A resume committed since attemptable looked found the message
		// in delivery and left it: the hold it lifted is not kept.
		// Claimed again when its delay notice or expiry falls due, if
		// before the recheck: that claim makes the DSN (start). A
		// takeover kept aside makes it due now too: settleIdle, which
		// applies it (a "took ||" here read took before it was set).
		m.State, m.NextAttempt = Ready, q.noLaterThanDue(m, now.Add(holdRecheck))
		if tx.anyResumed(queues) {
			m.NextAttempt = now
		}
		var err error
		gone, took, err = settleIdle(tx, m, now)
		return err
	}); err != nil {
		q.strandFailed("holding a message of a suspended queue failed", m.ID, err) // as requeue: tried again (stranded.go), not left Active until a restart
		return
	}
	if took {
		q.trackTakeover(m)
	}
	if gone {
		q.settledGone(m)
	}
}

// ErrNotDeliveryQueue is returned for a queue action (suspend, resume,
// retry, redirect) on a queue nothing is delivered from, where it would
// say "done" and change nothing.
var ErrNotDeliveryQueue = errors.New("not a delivery queue")

// CheckQueueAction refuses suspend, resume, retry and redirect of the
// queues no delivery is scheduled from — poison, quarantine and a
// dumpster — naming the command that acts on their messages. A shadow
// queue is a delivery queue: copies taken over wait in it, and retry,
// redirect and resume act on those. Its suspension is refused: the
// copies a takeover hands it are then the only copy of their mail, and a
// suspension stored beforehand would park them silently (a held copy is
// not this server's to hold before the takeover; after it, message
// suspend holds one).
func CheckQueueAction(name, action string) error {
	if action == "suspend" && DeliveryType(name) == "shadow" {
		return fmt.Errorf("%w: %s holds shadow copies kept for their primary, which delivers them; "+
			"a suspension would park the copies a takeover hands over, the only copy of that mail then: "+
			"hold one taken-over message with umbra message suspend ID", ErrNotDeliveryQueue, name)
	}
	why := ""
	switch DeliveryType(name) {
	case QueuePoison:
		why = "its messages wait for the operator: umbra message resume --state poison (or remove)"
	case QueueQuarantine:
		why = "its messages wait for release or deletion: umbra queue quarantine"
	case "dumpster":
		why = "it keeps copies of delivered mail, never sent from there: umbra dumpster resubmit"
	case QueueDamaged:
		why = "it lists message records that do not decode: umbra message export ID, then umbra message remove ID"
	default:
		return nil
	}
	return fmt.Errorf("%w: %s is not delivered from; %s", ErrNotDeliveryQueue, name, why)
}

// rerunnable returns what puts m back as it is now. A commit's function
// that changes a message held in memory (applying the discards kept
// aside settles recipients in it: putLeavingTook, settleIdle) calls it
// first: group commit may run the function twice — in a batch another
// writer's error aborted, then alone (doc.go) — and a second run that
// read the first run's changes took the recipients for settled already
// and wrote none of the notes the first had (takenhanded.go: the
// returning primary delivered again what a server this one handed the
// copy to had delivered).
func rerunnable(m *Message) func() {
	saved := *m
	rcpts := append([]Recipient(nil), m.Rcpts...)
	return func() {
		// Field by field, and only what differs: the first run writes
		// nothing here, so a reader of m's other fields (its id, in an
		// event) races with no write of this.
		for i := range rcpts {
			if i < len(m.Rcpts) && m.Rcpts[i] != rcpts[i] {
				m.Rcpts[i] = rcpts[i]
			}
		}
		if len(m.Rcpts) != len(rcpts) {
			m.Rcpts = append(m.Rcpts[:0:0], rcpts...)
		}
		if m.State != saved.State {
			m.State = saved.State
		}
		if !m.NextAttempt.Equal(saved.NextAttempt) {
			m.NextAttempt = saved.NextAttempt
		}
		if m.DelayNotified != saved.DelayNotified {
			m.DelayNotified = saved.DelayNotified
		}
		if m.LastError != saved.LastError {
			m.LastError = saved.LastError
		}
		if m.ShadowServer != saved.ShadowServer || m.ShadowID != saved.ShadowID {
			m.ShadowServer, m.ShadowID = saved.ShadowServer, saved.ShadowID
		}
		if m.CopyOnRelease != saved.CopyOnRelease { // a settle's record (settlePoisonCopy)
			m.CopyOnRelease = saved.CopyOnRelease
		}
	}
}

// HeldEachText says that n messages of queue name are held one by one
// (message suspend), which queue resume and retry do not release, and
// names the command that does: the words of queue list and the
// console's queue page alike (a queue shown suspended that is not
// suspended as a queue).
func HeldEachText(name string, n int) string {
	msgs, stay := fmt.Sprintf("%d messages", n), "stay"
	if n == 1 {
		msgs, stay = "1 message", "stays"
	}
	return fmt.Sprintf("%s held one by one (message suspend) %s held: "+
		"queue resume and retry release none; umbra message resume --queue %s releases them", msgs, stay, name)
}

// HeldEachRestoredText is HeldEachText for a queue of whose n messages
// held one by one restored are held by a restore (restored suspended,
// Message.RestoredSuspended), not by the operator: told apart, with
// the warning a resume of them needs (rt47 F2).
func HeldEachRestoredText(name string, n, restored int) string {
	if restored <= 0 || restored > n {
		return HeldEachText(name, n)
	}
	count := func(k int) string {
		if k == 1 {
			return "1 message"
		}
		return fmt.Sprintf("%d messages", k)
	}
	held := count(restored) + " restored suspended by db restore (the database the restore replaced no longer held " +
		pick1(restored, "it", "them") + " to deliver: " + pick1(restored, "it", "they") + " may have been delivered already)"
	if restored < n {
		held = count(n-restored) + " held one by one (message suspend) and " + held
	}
	return fmt.Sprintf("%s %s held: queue resume and retry release none; umbra message resume --queue %s releases them "+
		"(umbra message remove ID drops one)", held, pick1(n, "stays", "stay"), name)
}

func pick1(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// CheckShadowQueueAction refuses resume, retry and redirect of a shadow
// queue none of whose messages is taken over here: its copies are kept
// for their primary, which delivers them, and the action would answer
// "0 messages" and change nothing (sites49 F2) — the refusal says so,
// as suspend's does. A shadow queue with a copy taken over is acted on
// (those copies only). Any other queue: nil.
func (q *Manager) CheckShadowQueueAction(name, action string) error {
	if DeliveryType(name) != "shadow" || action == "suspend" {
		return nil
	}
	held, taken := 0, 0
	if err := q.store.View(func(tx *Tx) error {
		tx.walkQueue(name, 0, func(_ ID, st State, known bool) bool {
			if known && st == Shadow {
				held++
			} else {
				taken++
			}
			return taken == 0
		})
		return nil
	}); err != nil {
		return err
	}
	if taken > 0 || held == 0 {
		return nil // copies taken over are acted on; an empty queue is answered as any other
	}
	return fmt.Errorf("%w: %s holds shadow copies kept for their primary, which delivers them, and none of its %d taken over here: "+
		"nothing to %s (a copy is delivered from here only once its primary is taken over: umbra shadow list)",
		ErrNotDeliveryQueue, name, held, action)
}

// ShadowHeldText says that a resume, retry or redirect of a shadow
// queue acted on its taken-over copies only and left alone the n copies
// there still held for their primary (BatchResult.ShadowHeld): the CLI's
// words and the console's.
func ShadowHeldText(n int, action string) string {
	return fmt.Sprintf("%s held for their primary, not taken over, left alone: the primary delivers %s "+
		"(the %s acted on the copies taken over here only; umbra shadow list)",
		pick1(n, "1 shadow copy", fmt.Sprintf("%d shadow copies", n)), pick1(n, "it", "them"), action)
}
