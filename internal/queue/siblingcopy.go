package queue

import (
	"errors"
	"time"
)

// One shadow id, several records (doc.go, "One copy, several records").
// The id a shadow server S below shadow verb version 8 gives the copy of
// a message it relays to this server names the message and this server
// (the message id and a hash of the primary), and a copy on receipt is
// named by the org id: not by this server's record (a version-8 S names
// each transaction apart, copyid.go, but for a taken-over copy sent
// back, which keeps its id). This server keeps one record per
// transaction, so two records can name the same (S, id) — the recipients
// S relayed in a later attempt (a 452 4.5.3 or a directory's 451 at RCPT
// the first time), two destinations of one attempt served by this
// server, a message relayed here again by a transport server without a
// shadow session. S applies a discard to every recipient shadowed under
// the id, so the discard for (S, id) is owed only when no record here
// still needs that copy: the last of them to finish (or be held, removed,
// quarantined) writes it. Records of one message share its org id, so
// the others are found through the orgids index.

// copyNeededElsewhere reports whether a record other than self still
// needs the shadow copy id at server: one naming (server, id) with a
// recipient pending that no hold or quarantine settled (ShadowHeld, the
// answer to XQUERYHELD, applies that rule but for the quarantine, which
// it answers "held"), or an original that carries it (carried.go). A
// record that cannot be read counts as needing
// it: the safe side is a copy kept. Records are found by orgID and, when
// id is another org id (a copy on receipt's), by id too: a failure DSN
// carrying the discard of a copy on receipt has an org id of its own,
// and a later record of the original's message pushed its copy under
// the same id.
func (t *Tx) copyNeededElsewhere(self ID, orgID, server, id string) bool {
	if t.carriedElsewhere(self, server, id) { // an original here carries it (carried.go)
		return true
	}
	needed := false
	err := t.siblingsUnderCopy(self, orgID, server, id, func(o *Message) bool {
		needed = len(o.Pending()) > 0
		return !needed
	})
	return needed || err != nil
}

// siblingsUnderCopy calls fn for each record other than self that names
// the copy id at server and is not settled by a hold, a move to the
// poison queue that settled it (heldCopySettled) or the quarantine,
// found by orgID and, when id is another org id, by id too (as
// copyNeededElsewhere says), until fn returns false. A record that
// cannot be read ends the walk with its error.
func (t *Tx) siblingsUnderCopy(self ID, orgID, server, id string, fn func(*Message) bool) error {
	ids := t.ByOrgID(orgID)
	if id != orgID {
		ids = append(ids, t.ByOrgID(id)...)
	}
	for _, oid := range ids {
		if oid == self {
			continue
		}
		o, err := t.Get(oid)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if !t.sameHolderTx(o.ShadowServer, server) || o.ShadowID != id || heldCopySettled(o) || o.State == Quarantined {
			continue
		}
		if !fn(o) {
			return nil
		}
	}
	return nil
}

// addCopyDiscard writes, in tx, the discard notification for m's shadow
// copy unless another record here still needs that copy (then that
// record's end writes it). It reports whether it wrote one.
func (t *Tx) addCopyDiscard(m *Message, now time.Time) (bool, error) {
	return t.addDiscardFor(m.ID, m.OrgID, m.ShadowServer, m.ShadowID, now)
}

// addDiscardFor is addCopyDiscard for the copy id at server of record
// self (org id orgID).
func (t *Tx) addDiscardFor(self ID, orgID, server, id string, now time.Time) (bool, error) {
	if server == "" || id == "" || t.copyNeededElsewhere(self, orgID, server, id) {
		return false, nil
	}
	return true, t.AddDiscard(server, id, now)
}

// withdrawUnfetchedDiscard forgets, in the commit that stores m, a
// discard for m's shadow copy that its shadow server has not fetched
// yet: it was written by an earlier record under the same id, and would
// settle the copy of m's recipients too. The copy stays until m's own
// end writes the discard again.
func (t *Tx) withdrawUnfetchedDiscard(m *Message) error {
	if m.ShadowServer == "" || m.ShadowID == "" || len(m.Pending()) == 0 {
		return nil
	}
	return t.DeleteDiscards(m.ShadowServer, []string{m.ShadowID})
}

// settleRemovedPart writes, in the commit that removes the record m (an
// operator's removal, the quarantine's delete) and wrote no discard for
// its copy — another record here still needs it: a part of a split
// message —, the partial discard of the recipients the removal took
// (took, indexes of m), so that the holder keeps none of them for a
// takeover: it would deliver mail the operator removed. Left out: an
// address another record under the copy has pending (pendingUnderCopy:
// its end names it), and, when the removal makes a failure DSN
// (withDSN), the recipients it reports (failed): until that DSN leaves
// the copy covers their failure, as for a failure at an attempt's
// results; those are returned for the DSN's note (noteReported, the
// caller's, once the DSN has its id). A holder below shadow verbs 9
// never fetches the entries; the full discard at the last record's end
// still settles the copy. The removal settles a part as its end would
// have (split47; doc.go, "Partial discards").
func (t *Tx) settleRemovedPart(m *Message, took, failed []int, withDSN bool, now time.Time) (reported []string, err error) {
	reported, _, err = t.settlePart(m, took, failed, withDSN, now)
	return reported, err
}

// settleHeldPart writes, in the commit that holds the record m (an
// operator's hold, a quarantine) and wrote no discard for its copy —
// another record here still needs it: a part of a split message —, the
// partial discard of m's pending recipients (none another record under
// the copy has pending), as a whole message's hold discards its copy
// (hold.go): the holder keeps none of them for a takeover, which would
// deliver mail the operator held. It reports whether it wrote one; the
// caller then stores CopyOnRelease, so that the release marks m held by
// this server only and its copy is made again (markReleasedSingle).
func (t *Tx) settleHeldPart(m *Message, now time.Time) (bool, error) {
	_, wrote, err := t.settlePart(m, m.Pending(), nil, false, now)
	return wrote, err
}

// settlePart is settleRemovedPart and settleHeldPart: wrote reports
// whether it wrote a partial discard.
func (t *Tx) settlePart(m *Message, took, failed []int, withDSN bool, now time.Time) (reported []string, wrote bool, err error) {
	if m.ShadowServer == "" || m.ShadowID == "" || len(took) == 0 {
		return nil, false, nil
	}
	needs, err := t.pendingUnderCopy(m.ID, m.OrgID, m.ShadowServer, m.ShadowID)
	if err != nil {
		return nil, false, err
	}
	inDSN := map[int]bool{}
	if withDSN {
		for _, i := range failed {
			inDSN[i] = true
		}
	}
	var addrs []string
	for _, i := range took {
		a := m.Rcpts[i].Addr
		switch {
		case needs.needs(a):
		case inDSN[i]:
			reported = append(reported, a)
		default:
			addrs = append(addrs, a)
		}
	}
	// The copy names a group expanded here, not its members: the group
	// is settled with its last member (groupsSettled), or reported with
	// the DSN that reports one of them; while a DSN of an earlier commit
	// reporting one is here, by that DSN (or this one) as it leaves.
	taken := map[int]bool{}
	for _, i := range took {
		taken[i] = true
	}
	stillPending := func(i int) bool { return m.Rcpts[i].Status == Pending && !taken[i] }
	free := map[string]bool{} // no member in the DSN
	for _, g := range groupsSettled(m, taken, stillPending, func(i int) bool { return inDSN[i] }) {
		free[g] = true
	}
	var earlier map[string]bool // DSNs of earlier commits still here (groupReported)
	for _, g := range groupsSettled(m, taken, stillPending, nil) {
		if earlier == nil {
			earlier = t.reportedHere(m.ID, m.ShadowServer, m.ShadowID)
		}
		switch {
		case needs.needs(g):
		case groupReported(m, g, earlier) && (!withDSN || free[g]):
			// the last of those DSNs to leave names it
		case free[g]:
			addrs = append(addrs, g)
		default:
			reported = append(reported, g)
		}
	}
	if len(addrs) == 0 {
		return reported, false, nil
	}
	return reported, true, t.AddPartialDiscard(m.ShadowServer, m.ShadowID, addrs, now)
}
