package queue

import (
	"time"
)

// A copy taken over is held by this server only (rt55 F1). While a copy
// is shadowed here, its primary holds the message and this server the
// copy: two disks. A takeover — failed heartbeats, a primary back with
// another database, a rollback mark, an expired copy, a copy the primary
// gave this server, any of them kept aside for a record in delivery and
// applied by the commit that ends the attempt — makes this server the
// message's primary, and its disk the only one known to hold it: the
// primary lost it, or cannot be reached. So the commit that writes the
// first taken-over recipient of a record (Tx.Put, markTakenOver) marks
// it held by this server only (bucket singlecopy, holders.go), naming
// the primary it was taken from: shadow single, message show and the
// single-copy metric list it, and the holders' pass makes its copy again
// on a server that answers (delivery.ReceiptShadow.Recopy, by the
// receiving connector's preference: prefer-remote for a copy), which
// takes the mark away (ShadowRecopied) and names the new holder, so the
// message's delivery writes that holder's discard. Every other path
// that ends, in whole or in part, what this server still has to
// deliver writes the same through copySettled, in its commit: the
// returning primary's discard, full or partial, or one kept aside while
// the record was in delivery; a quarantine that absorbs the recipients;
// a give-back to its primary (giveBackTx: it answered again with its
// database), which makes the record a shadow copy again — its mark goes
// and the copy made meanwhile gets its discard; and every delete of the
// record (Tx.Delete: an operator's removal or bounce too) settles the
// mark itself (settleSingleMark). Without that, the server
// holding the copy made again keeps it, and takes it over — a second
// delivery — when this server fails in turn.
// The mark names the primary as the server its copy was on, with
// HowTaken as what befell it (markSingleHow; the views read it as
// SingleCopy.TakenOver).

// now is the time of the Manager's clock over t's store (NewManager),
// the wall clock outside one.
func (t *Tx) now() time.Time {
	if t.store != nil {
		if c := t.store.clk.Load(); c != nil {
			return (*c).Now()
		}
	}
	return time.Now()
}

// markTakenOver marks m held by this server only when this Put gives it
// its first recipient taken over from a primary (takenFrom: none in old)
// and it needs a copy; a mark it has already stays as it is.
func (t *Tx) markTakenOver(old, m *Message) error {
	if t.tx.Bucket(bucketSingle) == nil { // a database opened for a restore check
		return nil
	}
	now := takenFrom(m)
	if len(now) == 0 || old != nil && len(takenFrom(old)) > 0 || !needsCopyMarked(m) || t.markedSingle(m.ID) {
		return nil
	}
	return t.markSingleHow(m.ID, now[0], HowTaken, t.now())
}

// statusesNow is the status of each of m's recipients, as a commit
// found them (copySettled's before).
func statusesNow(m *Message) []RcptStatus {
	out := make([]RcptStatus, len(m.Rcpts))
	for i, r := range m.Rcpts {
		out[i] = r.Status
	}
	return out
}

// copySettled writes, in a commit that settles recipients of m other
// than by an attempt's results — a primary's discard, full or partial,
// or one kept aside while m was in delivery; a quarantine that absorbs
// them; a give-back to the primary that answered again — what m's own
// copy elsewhere (m.ShadowServer, m.ShadowID: a copy on receipt, or the
// copy of a taken-over message made again, ShadowRecopied) is owed for
// them. before is the status of each recipient as the commit found m.
// Every such path goes through it, as the commit of results writes the
// same for the recipients an attempt finished (results.go).
//
// With nothing pending here any more, the copy is owed its discard —
// unless another record here still needs it (siblingcopy.go) — and m
// names no copy after it: a record kept as a shadow copy for its
// primaries is no message of this server's, and the copy it named is
// gone (a later takeover marks it again, takensingle.go). The servers
// a copy was pushed to without confirmation (the mark's pushed list)
// may hold it all the same: they get the discard too, and the mark
// goes. With recipients still pending, those no longer pending here get
// a partial discard (partialdiscard.go); the copy stays for the others.
// Nothing when the commit settled no recipient pending here; not for a
// quarantined record: its commit settled its copy.
func (t *Tx) copySettled(m *Message, before []RcptStatus, now time.Time) error {
	if m.State == Quarantined {
		return nil
	}
	var addrs []string // pending as the commit found m, not now
	for i, r := range m.Rcpts {
		if i < len(before) && before[i] == Pending && r.Status != Pending {
			addrs = append(addrs, r.Addr)
		}
	}
	if len(addrs) == 0 {
		return nil // this commit settled nothing: nothing owed
	}
	if len(m.Pending()) == 0 {
		// Marked held by this server only, m has no copy that covers
		// anything (its discard owed already, or the copy lost): no
		// DSN of it carries the discard (results.go). Read before the
		// mark goes.
		uncovered := t.markedSingle(m.ID)
		// Unless its copy was made again while an attempt ran
		// (heldPrefix) and the marks were not listed since: that copy,
		// durable at its holder, covers the message as a named one
		// does (results.go, finish). It is named here as
		// nameCopyHolder names it (on h under the org id), so that an
		// early failure DSN reporting it carries its discard; the copy
		// the record named gets its own (lost or settled, it covers
		// nothing), in this commit.
		if h := t.heldCopy(m.ID); uncovered && h != "" && m.OrgID != "" {
			if m.ShadowServer != "" && m.ShadowID != "" && !(sameServer(h, m.ShadowServer) && m.ShadowID == m.OrgID) {
				if _, err := t.addDiscardFor(m.ID, m.OrgID, m.ShadowServer, m.ShadowID, now); err != nil {
					return err
				}
			}
			m.ShadowServer, m.ShadowID = h, m.OrgID
			uncovered = false
		}
		if err := t.settleSingleMark(m, now); err != nil { // save m's own copy
			return err
		}
		if m.ShadowServer == "" || m.ShadowID == "" {
			return nil
		}
		// A failure DSN of the message made earlier and still here
		// carries the copy's discard, as at the end of an attempt
		// (earlydsn.go): the copy covers the failure until that DSN has
		// left. The recipients this commit settled get their partial
		// discard now, as finish's dsnOwesDiscard gives them.
		if !uncovered && !t.copyNeededElsewhere(m.ID, m.OrgID, m.ShadowServer, m.ShadowID) {
			_, carried, err := t.earlyDSNCarries(m)
			if err != nil {
				return err
			}
			if carried {
				server, id := m.ShadowServer, m.ShadowID
				m.ShadowServer, m.ShadowID = "", ""
				return t.AddPartialDiscard(server, id, addrs, now)
			}
		}
		if _, err := t.addDiscardFor(m.ID, m.OrgID, m.ShadowServer, m.ShadowID, now); err != nil {
			return err
		}
		m.ShadowServer, m.ShadowID = "", ""
		return nil
	}
	if m.ShadowServer == "" || m.ShadowID == "" {
		return nil
	}
	elsewhere, err := t.pendingUnderCopy(m.ID, m.OrgID, m.ShadowServer, m.ShadowID)
	if err != nil {
		return err
	}
	keep := addrs[:0]
	for _, a := range addrs {
		if !elsewhere.needs(a) {
			keep = append(keep, a)
		}
	}
	if len(keep) == 0 {
		return nil
	}
	return t.AddPartialDiscard(m.ShadowServer, m.ShadowID, keep, now)
}

// settleSingleMark drops the mark of m, which has nothing pending here
// any more, as held by this server only, and writes the discard owed to
// each server a copy was pushed to without confirmation or made again on
// while m was in delivery (the mark's pushed list, heldPrefix) — save
// m's own copy (m.ShadowServer under the org id), which its caller
// settles. Tx.Delete calls it: every end of a record settles its mark.
// A mark that does not parse names no server: it goes, its count with
// it.
func (t *Tx) settleSingleMark(m *Message, now time.Time) error {
	b := t.tx.Bucket(bucketSingle)
	if b == nil {
		return nil
	}
	v := b.Get(m.ID.Key())
	_, _, pushed, ok := singleMark(v)
	if !ok {
		if v == nil {
			return nil
		}
		return t.dropMark(m.ID.Key())
	}
	if err := t.discardPushed(m, pushed, now); err != nil {
		return err
	}
	return t.dropMark(m.ID.Key())
}

// settleMarkHolders is settleSingleMark for a message that stays marked
// (an operator's hold: no other server may take it over while it is
// held, hold.go): the servers its mark names as ones that may hold a
// copy get the discard, and the mark keeps only what befell the copy,
// so a release makes the copy again (the hold stores CopyOnRelease: a
// listing of the marks while it is held drops the mark, SingleCopies).
func (t *Tx) settleMarkHolders(m *Message, now time.Time) error {
	b := t.tx.Bucket(bucketSingle)
	if b == nil {
		return nil
	}
	v := b.Get(m.ID.Key())
	_, since, pushed, ok := singleMark(v)
	if !ok || len(pushed) == 0 {
		return nil
	}
	if err := t.discardPushed(m, pushed, now); err != nil {
		return err
	}
	return t.markSingleKind(m.ID, markHead(v), since, nil)
}

// discardPushed writes the discard of m's copy (named by its org id)
// owed to each of servers, save m's own copy, unless another record here
// still needs that copy (siblingcopy.go).
func (t *Tx) discardPushed(m *Message, servers []string, now time.Time) error {
	for _, p := range servers {
		if m.OrgID == "" || sameServer(p, m.ShadowServer) && m.ShadowID == m.OrgID {
			continue // m's own copy
		}
		if _, err := t.addDiscardFor(m.ID, m.OrgID, p, m.OrgID, now); err != nil {
			return err
		}
		if err := t.discardFormerCopy(m, p, now); err != nil {
			return err
		}
	}
	return nil
}
