package queue

import (
	"strings"
	"time"
)

// Delay notes (holdfail23; shadow verb version 17, package smtp).
//
// A message's "delayed" DSN goes once across the organisation
// (Message.DelayNotified; orgid.DelayNotifiedHeader carries it forward
// to the next hop). Backward it did not go: the shadow copy of a message
// whose primary sent its delay DSN did not know, and a takeover after
// that sent the sender a second one. So the results commit that makes
// the delay DSN here (m.DelayNotified set by it) of a record with a copy
// elsewhere also writes a delay note for that copy, in bucket
// partialdiscards under the copy's key with an empty address:
//
//	partialdiscards serverKey(server) ‖ 0x00 ‖ copy id ‖ 0x00 → prepared-at (8, BE)
//
// It travels as the partial discards do (fetched with them, forgotten
// once the peer spoke again, superseded by the full discard, pruned with
// message_expiration), as the line "<copy id> DELAYED", but only to a
// query that asked (XQUERYDISCARD … PARTIAL TAKEOVER DELAYED, version
// 17): PartialDiscards and DiscardsPartial leave it out, so an older
// shadow server sees what it saw before, and keeps today's behaviour —
// its copy may send a second delay DSN after a takeover. A stop hands
// the notes over with the partial discards (XDISCARD "<id> DELAYED",
// DiscardsPartialDelayed) to a shadow server of version 19, forgotten
// once it answered as they are; to one of 18 or below they stay owed,
// fetched when this server runs again. The note is written when the DSN is made, as the
// holder's taken-done note for a delay DSN is (takendone.go): that DSN
// is marked held here only and copied (enteredsingle.go), and a lost
// delay notice is a warning lost, never a message.
//
// The shadow server applies it in the commit of the batch (as partial
// discards: ShadowContact, before the next command): each record it
// holds for that primary under that id — shadowed, or taken over and
// still pending — is marked DelayNotified, so that its own attempts, a
// takeover's too, make no delay DSN. A record in delivery here (a copy
// taken over, its attempt running) is marked too, as stored and on its
// attempt (attempt.noticed, found through Manager.inDelivery), in the
// note's transaction: its job commits and its end, which write the
// record they began with, keep the mark (noticecommit.go), so neither
// the end nor a later deferral makes a second delay DSN, and a crash
// before the end leaves the record marked (shadow26 item 3; it was
// skipped, and the note lost once the peer spoke again). A note that
// looks the attempt up before start registered it is read by start,
// which reads the stored mark after registering, ordered after every
// writer (Store.ViewSettled), when the record is one a note can reach
// (delayNoteMayReach). The end
// commit of a record left pending also keeps a mark it finds stored.
// A note whose commit comes after the end read the mark (complete), of
// an attempt whose end was to make the notice itself, is found by that
// end's commit, which reads the stored mark in its transaction
// (finish: noteFirst) and then makes no delay DSN and writes no delay
// note of its own. A note for a copy on
// receipt not stored here yet is dropped (it is not kept aside as a
// partial discard is): that copy may still send one, under the rule of
// takendelay.go alone, as before.

// DelayNoteSuffix ends the XQUERYDISCARD reply line of a delay note:
// "<copy id> DELAYED".
const DelayNoteSuffix = " DELAYED"

// AddDelayNote records that the copy id kept by server is owed a delay
// note: its message's delay DSN went from here.
func (t *Tx) AddDelayNote(server, id string, now time.Time) error {
	return t.AddPartialDiscard(server, id, []string{""}, now)
}

// DiscardsDelayed is DiscardsHandBack for a shadow server of version
// 17: the full and partial notifications with the delay notes among
// the partial ones ("<id> DELAYED"), then the messages given to it.
func (q *Manager) DiscardsDelayed(server string, max int) ([]string, func()) {
	return q.handBackAfter(server, max, func(server string, max int) ([]string, func()) {
		lines, notes := q.owed(server, max, true, true)
		return lines, q.forgetSent(server, lines, notes)
	})
}

// DiscardsPartialDelayed is DiscardsPartial with the delay notes among
// the partial notifications ("<id> DELAYED"): what a stop hands to a
// shadow server of version 19 (XDISCARD, delivery PushOwedDiscards),
// without the messages given to it (those it takes at its own query).
// ack forgets exactly those sent, as for the partial discards.
func (q *Manager) DiscardsPartialDelayed(server string, max int) ([]string, func()) {
	lines, notes := q.owed(server, max, true, true)
	return lines, q.forgetSent(server, lines, notes)
}

// delayNoteOwed reports whether the results commit of m owes a delay
// note to the copy id kept by server: the commit made m's delay notice
// (flipped: DelayNotified set by this attempt). Not for a DSN of this
// server's, whose ShadowServer and ShadowID, when set, name the copy of
// the message it reports on (doc.go, "DSNs and shadow copies").
func delayNoteOwed(m *Message, flipped bool, server, id string) bool {
	return flipped && server != "" && id != "" && !m.OwnDSN()
}

// delayNoteMayReach reports whether a primary's delay note can mark m
// (applyDelayNoteTx): m is not marked yet and a recipient of it is held
// for a primary under a copy id. Every other record a note leaves alone.
func delayNoteMayReach(m *Message) bool {
	if m.DelayNotified {
		return false
	}
	for i := range m.Rcpts {
		r := &m.Rcpts[i]
		if (r.Status == Shadowed || r.Status == Pending) && r.Primary != "" && r.ShadowID != "" {
			return true
		}
	}
	return false
}

// applyDelayNoteTx applies primary's delay note for the copy sid: the
// records held for it under that id, and with no other recipient still
// to deliver, are marked DelayNotified. It returns those, for their
// events (tracking: discard, "delay note from PRIMARY").
func (q *Manager) applyDelayNoteTx(tx *Tx, primary, sid string) ([]*Message, error) {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	hexID, _, ok := strings.Cut(sid, "-")
	id, perr := ParseID(hexID)
	relay := ok && perr == nil
	records := []ID{id}
	if !relay {
		records = tx.receiptCopies(primary, sid) // a copy on receipt: named by its org id
	}
	var applied []*Message
	for _, id := range records {
		m, err := tx.Get(id)
		if err != nil || m.DelayNotified {
			continue
		}
		// The note speaks for the recipients held for primary under
		// sid only: a record with another recipient still to deliver
		// (its own, or held for another primary) keeps its own delay
		// notice, which the note must not silence (reread23 F1).
		held, other := false, false
		for i := range m.Rcpts {
			r := &m.Rcpts[i]
			switch {
			case discardSettles(r, primary, sid) || relay && r.Status == Shadowed && discardSettles(r, primary, m.OrgID):
				held = true
			case r.Status == Pending || r.Status == Shadowed:
				other = true
			}
		}
		if !held || other {
			continue
		}
		m.DelayNotified = true
		if err := tx.Put(m); err != nil {
			return nil, err
		}
		if m.State == Active {
			// In delivery here (a copy taken over): the record as
			// stored is marked, and so is its attempt, whose job
			// commits and end write the record they began with
			// (noticecommit.go's mark: "its notice went while a job
			// ran"). Set in the transaction, before any later commit
			// of the attempt can write; a commit that fails leaves the
			// mark on the attempt all the same, which is true: the
			// primary sent the notice.
			if v, ok := q.inDelivery.Load(id); ok {
				v.(*attempt).noticed.Store(true)
			}
		}
		applied = append(applied, m)
	}
	return applied, nil
}
