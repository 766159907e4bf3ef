package queue

import "time"

// An operator's hold (SuspendMessage, `umbra message suspend`) is a hold
// on every server of the organisation, as a quarantine is
// (quarantine.go): while the message is held, no other server may take
// it over and deliver it. A shadow server knows nothing of this
// server's holds — it takes a copy over when its primary fails for the
// takeover delay — so the commit that suspends a message writes the
// discard notification for the message's own shadow copy (its
// ShadowServer and ShadowID: the copy pushed on receipt, or the copy
// the server that relayed the message here keeps): the shadow server
// drops the copy at its next contact, and the held message lives on
// this server only until it is delivered. The hold and the discard are
// one commit, so a crash leaves neither or both. A part of a split
// message whose copy another record here still needs settles its own
// recipients in that copy by a partial discard in the same commit
// (settleHeldPart), and its release makes their copy again
// (CopyOnRelease, markReleasedSingle): the holder of a shared copy
// never delivers the held part's mail at a takeover.
//
// What this costs: from the hold on, the message has one copy, on this
// server's disk; a lost disk loses it (the quarantine's rule too). A
// release (ResumeMessage) marks it held by this server only in its
// commit (markReleasedSingle, holders.go; kind HowHeld: the views say the
// hold discarded the copy, not that it was lost — and, while it is held,
// HoldDiscardedCopy): the views count it, and the
// re-make pass pushes its copy again as for a copy lost with its
// holder's database; until then it is on this disk alone.
//
// The record keeps ShadowServer and ShadowID, so that
//   - a copy the shadow server took over anyway (the primary died
//     before the discard was fetched) and resubmits here still merges
//     into the held original (mergeHeld: a suspended recipient is
//     pending) instead of being delivered past the hold, and the
//     sender's copy is discarded in that commit at once (the original's
//     discard was already written);
//   - the discard written again when the message finishes is one its
//     peer ignores (it holds no copy of that id any more);
//   - delivery still knows where the message came from (messageOrigin).
//
// XQUERYHELD answers "done" for a suspended message's copy (heldquery.go),
// in agreement with the discard.
//
// Not a hold in this sense, and so not settled: a suspended queue (a
// destination's maintenance: the mail is due to be delivered, and a
// takeover during an outage of this server is what the copy is for),
// a redirect (a route of this server's). The poison queue is a hold the
// operator sees: the commit that moves a message there (Recover, or a
// panic of its attempt: settlePoisonCopy) settles its copy as a suspend
// does, and its resume marks it for a new
// copy — but not when its body here does not read whole: its copy is
// then the only sound one (handback.go gives the message to its
// holder), and stays. The resume of a poison message whose copy is
// still held (poisoned so by an earlier release) settles it then, as it
// takes the time held out of the message's age (resumeAction).
//
// An original held here — suspended, quarantined, or poison with a
// body that reads whole — still owes its recipients at a takeover's
// settling of a copy of the same message held here (twinoriginal.go):
// the copy is settled, and the original's release delivers them; a
// takeover never delivers behind the hold.

// settleHeldCopy writes, in tx, the discard notification for the shadow
// copy of m, which the caller's commit holds. It reports whether m has
// one.
func settleHeldCopy(tx *Tx, m *Message, now time.Time) (bool, error) {
	// Another record here under the same shadow id may still need the
	// copy (siblingcopy.go): then its end writes the discard.
	// The hold settles the carried copies, but the recipients the
	// original took in from them are still its own to deliver: no
	// taken-over copy's note may settle them after a release.
	for addr := range tx.carriedRcpts(m.ID) {
		if addr == "" {
			for _, r := range m.Rcpts {
				if err := tx.noteMergedRcpt(m.ID, r.Addr); err != nil {
					return false, err
				}
			}
			continue
		}
		if err := tx.noteMergedRcpt(m.ID, addr); err != nil {
			return false, err
		}
	}
	if err := tx.settleCarried(m.ID, m.OrgID, now); err != nil { // carried.go: held, as its own copy
		return false, err
	}
	// A copy pushed without confirmation, or made again while the
	// message was in delivery, is held elsewhere all the same: its
	// server gets the discard too (takensingle.go).
	if err := tx.settleMarkHolders(m, now); err != nil {
		return false, err
	}
	wrote, err := tx.addCopyDiscard(m, now)
	if err != nil || wrote {
		return wrote, err
	}
	// A part of a split message whose copy another record here still
	// needs: its own recipients are settled in that copy all the same
	// (a partial discard, siblingcopy.go), and its release makes their
	// copy again (CopyOnRelease) as a whole message's release does.
	part, err := tx.settleHeldPart(m, now)
	if part {
		m.CopyOnRelease = true
	}
	return false, err
}

// settlePoisonCopy settles, in tx, the shadow copy of m, which the
// caller's commit moves to the poison queue (Recover after crashes,
// poisonGiving after a panic), as a suspend settles it (settleHeldCopy):
// a message that names no copy too, since a push that got no reply may
// have left one on its server (settleMarkHolders). Not when m's body
// here does not read whole: the copy is then the sound one
// (handback.go). CopyOnRelease is stored as the record of the settle:
// the message is then held as a suspended one is — no holder asked for
// its copy, none made again while held (needsCopyMarked) — and its
// resume marks it for a new copy (resumeAction); so is one marked held
// here only, as a suspend stores it.
func settlePoisonCopy(tx *Tx, m *Message, now time.Time) error {
	if !tx.bodySoundHere(m) {
		return nil
	}
	if _, err := settleHeldCopy(tx, m, now); err != nil {
		return err
	}
	m.CopyOnRelease = m.CopyOnRelease || m.ShadowServer != "" && m.ShadowID != "" || tx.markedSingle(m.ID)
	return nil
}

// heldCopySettled reports whether the commit that holds m here settled
// its shadow copy, so that m no longer needs it: an operator's hold
// (Suspended) or a move to the poison queue that settled it
// (poisonCopySettled). A poison message whose copy stayed — its body
// here does not read whole, the copy is the sound one — still needs it.
func heldCopySettled(m *Message) bool {
	return m.State == Suspended || poisonCopySettled(m)
}

// markReleasedSingle marks m, released from an operator's hold (or from
// the quarantine, whose commit settled the copy the same way) in the
// caller's commit, held by this server only (holders.go) when the hold
// settled its shadow copy: m names a shadow server and id, and no other
// record here keeps that copy needed (siblingcopy.go: then the hold wrote
// no discard). The views then show it (shadow single, message show,
// umbra_shadow_single_copy_messages) and the re-make pass pushes its copy
// again by the receive connector's preference, as for a copy lost with
// its holder's database (rt36 F4: a resumed message was on one disk and
// no view said so). So is a message quarantined on receipt that got no
// copy for it (CopyOnRelease, cleared here: the caller puts m), naming no
// server, as one accepted "no shadow copy" (F1), and so is one the hold
// found marked (SuspendMessage stores CopyOnRelease: a listing of the
// marks while it is held drops the mark, SingleCopies). A message that never had
// nor wanted a copy is not marked, nor one marked already. It reports
// whether it marked m. The mark of a copy the hold settled says so —
// how is HowHeld or HowQuarantined (rt20f F4: the views said the copy
// "was lost"); one the hold found marked, or a message with no copy,
// keeps the kind of mark it had (none).
func (t *Tx) markReleasedSingle(m *Message, how string, now time.Time) (bool, error) {
	lost := m.ShadowServer
	if m.CopyOnRelease {
		m.CopyOnRelease = false
		if m.ShadowServer != "" && m.ShadowID != "" && (m.State == Poison || t.copyNeededElsewhere(m.ID, m.OrgID, m.ShadowServer, m.ShadowID)) {
			// A part whose hold settled its recipients in the copy
			// another record still needs (settleHeldPart), or a poison
			// message whose move there settled its copy (Recover): the
			// hold discarded its copy, or its share of it.
			lost += howSep + how
		}
	} else if m.ShadowServer == "" || m.ShadowID == "" {
		return false, nil
	} else if t.copyNeededElsewhere(m.ID, m.OrgID, m.ShadowServer, m.ShadowID) {
		// The hold wrote no discard: the copy is m's still while it is
		// kept (copyKeptForSibling) — but not one lost meanwhile with
		// the sibling that needed it (its holder's new database marked
		// the sibling, not m): then m is marked as a copy lost.
		if t.copyKeptForSibling(m) {
			return false, nil
		}
	} else {
		lost += howSep + how
	}
	if _, _, _, ok := singleMark(t.tx.Bucket(bucketSingle).Get(m.ID.Key())); ok {
		return false, nil
	}
	return true, t.markSingleKind(m.ID, lost, now, nil)
}

// HoldDiscardedCopy is what the views say of the shadow copy of m while
// an operator's hold (Suspended) or the quarantine holds m and the
// commit that held it discarded the copy (settleHeldCopy; the caller
// knows, CopyHolderOf naming no holder): "" for any other message. The
// release marks it (markReleasedSingle), and SingleCopy.String says the
// rest.
func HoldDiscardedCopy(m *Message) string {
	if m.ShadowServer == "" || m.ShadowID == "" {
		return ""
	}
	switch m.State {
	case Suspended:
		return "held by this server only: its shadow copy on " + m.ShadowServer + " was discarded when the message was held; made again when it goes"
	case Quarantined:
		return "held by this server only: its shadow copy on " + m.ShadowServer + " was discarded when the message was quarantined; made again when it is released"
	case Poison:
		if poisonCopySettled(m) {
			return "held by this server only: its shadow copy on " + m.ShadowServer + " was discarded when the message was moved to the poison queue; made again when it is resumed"
		}
	}
	return ""
}

// releasedSingle logs a message marked held by this server only by its
// release (markReleasedSingle), as every single-copy case is logged.
func (q *Manager) releasedSingle(m *Message, how string) {
	q.log.Warn("message held by this server only after its "+how+": its shadow copy is made again by the next pass of the shadow-server probe",
		"msg_id", m.ID.String(), "shadow_server", m.ShadowServer)
}

// heldCopySettled logs and tracks, after the commit, the discard of the
// copy (to ev: its commit's batch); the commit woke the shadow server's
// waiting sessions (owedsignal.go).
func (q *Manager) heldCopySettled(ev Events, m *Message) {
	q.log.Info("message held: its shadow copy is discarded, the message lives on this server only until delivered",
		"msg_id", m.ID.String(), "shadow_server", m.ShadowServer)
	ev.Event("discard", m, nil, "discard notification for "+m.ShadowServer+" prepared: held by the administrator")
}

// resumedCopySettled is heldCopySettled for a poison message resumed:
// the resume's commit discarded the copy the poison queue kept, so that
// it is made again with the age the resume left the message
// (resumeAction).
func (q *Manager) resumedCopySettled(ev Events, m *Message) {
	q.log.Info("poison message resumed: its shadow copy is discarded and made again, with the message's age as the resume left it",
		"msg_id", m.ID.String(), "shadow_server", m.ShadowServer)
	ev.Event("discard", m, nil, "discard notification for "+m.ShadowServer+" prepared: resumed from the poison queue")
}

// bodySoundHere reports whether m's body here reads whole (Body.Check),
// as removeCheck asks it before a removal discards the copy elsewhere: a
// body found unreadable, or one that cannot be looked up, leaves the
// shadow copy alone, the only sound one.
func (t *Tx) bodySoundHere(m *Message) bool {
	b, err := t.BodyOf(m.ID)
	return err == nil && b.Check() == nil
}
