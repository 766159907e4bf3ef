package queue

import (
	"bytes"
	"strings"
	"time"

	"umbra/internal/mailaddr"
	"umbra/internal/orgid"
)

// Partial discards (shadow verb version 9; doc.go, "Partial discards").
// A discard notification settles a whole copy and is written only when
// the primary's record has no recipient left pending, so a message
// delivered to some recipients while another defers kept every recipient
// in its shadow copy until then: a takeover in between sent the finished
// ones again (README, duplicate window 1). A results commit that
// finishes some recipients of a record with a copy elsewhere now also
// writes a partial discard: the copy's id and the finished recipients'
// addresses (addresses, since a copy made again holds only the pending
// ones, at other indexes), one entry per address in bucket
// partialdiscards:
//
//	partialdiscards serverKey(server) (holderfold.go) ‖ 0x00 ‖ shadow id ‖ 0x00 ‖ address → prepared-at (8, BE)
//
// A shadow server that speaks version 9 fetches them with the full ones
// (XQUERYDISCARD … PARTIAL, package smtp) and marks those recipients of
// its copy done; the copy stays for the rest, and the full discard still
// ends it. The full discard of a copy supersedes its partial ones (they
// are deleted in the commit that writes it); an older shadow server never
// asks, and its entries go with the full discard or, unfetched, with
// message_expiration (PruneDiscards): the window stays open with it.

// PartialDiscardSep separates a partial discard's shadow id from the
// address it settles in the strings Manager.DiscardsPartial returns and
// ShadowContact takes: "<id> RCPT=<xtext address>" (the wire form too).
const PartialDiscardSep = " RCPT="

func partialKey(server, id, addr string) []byte {
	server = serverKey(server) // holderfold.go
	k := make([]byte, 0, len(server)+len(id)+len(addr)+2)
	k = append(append(append(k, server...), 0), id...)
	return append(append(k, 0), addr...)
}

// AddPartialDiscard records that the shadow server may mark the
// recipients addrs of its copy id done.
func (t *Tx) AddPartialDiscard(server, id string, addrs []string, now time.Time) error {
	b := t.tx.Bucket(bucketPartial)
	if len(addrs) > 0 {
		t.noteOwed(server)
	}
	for _, a := range addrs {
		k := partialKey(server, id, a)
		if err := b.Put(k, t.noteStamp(true, k, b.Get(k), now)); err != nil { // a stamp apart from the one replaced (tx.go)
			return err
		}
	}
	return nil
}

// PartialDiscard is one partial discard notification: the recipient Addr
// of the copy ID is done.
type PartialDiscard struct{ ID, Addr string }

// Wire is the notification as an XQUERYDISCARD reply line carries it:
// a delay note's (Addr "") "<id> DELAYED" (delaynote.go).
func (p PartialDiscard) Wire() string {
	if p.Addr == "" {
		return p.ID + DelayNoteSuffix
	}
	return p.ID + PartialDiscardSep + mailaddr.Xtext(p.Addr)
}

// PartialDiscards lists up to max partial notifications owed to server.
func (t *Tx) PartialDiscards(server string, max int) []PartialDiscard {
	return t.partialNotes(server, max, false)
}

// partialNotes lists up to max partial notifications owed to server,
// and, when delay, the delay notes among them (Addr "": delaynote.go).
func (t *Tx) partialNotes(server string, max int, delay bool) []PartialDiscard {
	var out []PartialDiscard
	prefix := append([]byte(serverKey(server)), 0)
	c := t.tx.Bucket(bucketPartial).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(out) < max; k, _ = c.Next() {
		id, addr, ok := strings.Cut(string(k[len(prefix):]), "\x00")
		if ok && (addr != "" || delay) {
			out = append(out, PartialDiscard{id, addr})
		}
	}
	return out
}

// DeletePartialDiscards forgets partial notifications that were delivered.
func (t *Tx) DeletePartialDiscards(server string, ps []PartialDiscard) error {
	b := t.tx.Bucket(bucketPartial)
	for _, p := range ps {
		if err := b.Delete(partialKey(server, p.ID, p.Addr)); err != nil {
			return err
		}
	}
	return nil
}

// dropPartialDiscards forgets every partial notification for the copy id
// at server: the full discard written in the same commit settles all of
// it, or the copy is this server's to keep whole (withdrawn).
func (t *Tx) dropPartialDiscards(server, id string) error {
	b := t.tx.Bucket(bucketPartial)
	prefix := partialKey(server, id, "")
	var ks [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		ks = append(ks, bytes.Clone(k))
	}
	for _, k := range ks {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// DiscardsPartial is Discards for a shadow server of version 9: the full
// notifications, then the partial ones (PartialDiscard.Wire), up to max
// in all. ack forgets exactly those sent.
func (q *Manager) DiscardsPartial(server string, max int) ([]string, func()) {
	lines, notes := q.owed(server, max, true, false)
	return lines, q.forgetSent(server, lines, notes)
}

// finishedForCopy returns the addresses of m's recipients this results
// commit finished — pending as the attempt began (before), now
// delivered, relayed, shadowed at a next hop or failed — that the
// shadow copy of m (m.ShadowServer, m.ShadowID) no longer needs: not a
// group expanded here as it is expanded (its members are new recipients
// the copy does not name) but the group once the last of its members
// finished (groupsSettled: the copy holds the group) and no failure DSN
// still here reports one of them (groupReported), not one in skip (the
// results commit's: one its failure DSN reports — that DSN exists only here until it leaves; the copy covers
// it, as the full discard a failure DSN carries, and the DSN's departure
// names it: reportedcopy.go), and not one another record here under the
// same copy id still has pending (siblingcopy.go: the last to finish it
// names it).
func (t *Tx) finishedForCopy(m *Message, before []RcptStatus, outcome map[int]Outcome, skip map[int]bool) ([]string, error) {
	var addrs []string
	done := map[int]bool{}
	for i := range m.Rcpts {
		r := &m.Rcpts[i]
		if i >= len(before) || before[i] != Pending || r.Status == Pending || outcome[i] == Expanded {
			continue
		}
		done[i] = true
		if !skip[i] {
			addrs = append(addrs, r.Addr)
		}
	}
	// A group expanded here is what the copy holds, not its members:
	// named once none of them is pending, and none this commit finished
	// is skipped (its DSN's departure, or a later commit, names it).
	// Nor while a failure DSN of an earlier commit that reports one of
	// them is still here: that DSN's departure names it
	// (groupReported).
	if gs := groupsSettled(m, done, func(i int) bool { return m.Rcpts[i].Status == Pending }, func(i int) bool { return skip[i] }); len(gs) > 0 {
		reported := t.reportedHere(m.ID, m.ShadowServer, m.ShadowID)
		for _, g := range gs {
			if !groupReported(m, g, reported) {
				addrs = append(addrs, g)
			}
		}
	}
	if len(addrs) == 0 {
		return nil, nil
	}
	pendingElsewhere, err := t.pendingUnderCopy(m.ID, m.OrgID, m.ShadowServer, m.ShadowID)
	if err != nil {
		return nil, err
	}
	keep := addrs[:0]
	for _, a := range addrs {
		if !pendingElsewhere.needs(a) {
			keep = append(keep, a)
		}
	}
	return keep, nil
}

// pendingUnderCopy is the set of addresses pending in records other than
// self that name the copy id at server and are not settled by a hold or
// quarantine (the rule of copyNeededElsewhere, per address), with those
// an original other than self still carries under that id (carried.go;
// "" when one carries the copy whole: every address). A record that
// cannot be read fails the commit: the safe side is no partial discard.
func (t *Tx) pendingUnderCopy(self ID, orgID, server, id string) (copyNeeds, error) {
	out := copyNeeds{}
	t.carriedAddrs(self, server, id, out)
	err := t.siblingsUnderCopy(self, orgID, server, id, func(o *Message) bool {
		for _, i := range o.Pending() {
			out[o.Rcpts[i].Addr] = true
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// copyNeeds is the set pendingUnderCopy returns: copy addresses other
// records here still need, "" for every one (a copy carried whole).
type copyNeeds map[string]bool

// needs reports whether the copy's recipient addr is still needed here:
// no partial discard for it.
func (s copyNeeds) needs(addr string) bool { return s[addr] || s[""] }

// ParsePartialDiscard reads "<id> RCPT=<xtext address>"; ok is false for
// anything else (a full discard's bare id among them).
func ParsePartialDiscard(s string) (PartialDiscard, bool) {
	id, x, found := strings.Cut(s, PartialDiscardSep)
	if !found || id == "" || strings.ContainsAny(id, " \x00") {
		return PartialDiscard{}, false
	}
	addr, ok := mailaddr.DecodeXtext(x)
	if !ok || addr == "" || strings.ContainsAny(addr, "\x00\r\n") {
		return PartialDiscard{}, false
	}
	return PartialDiscard{id, addr}, true
}

// earlyPartialID is the key under which a partial discard for the
// recipient addr of the copy sid waits in bucket early while the copy's
// record is in delivery here: "<sid> 0x00 <addr>", under the prefix of
// the copy's id, so that dropSpentEarlyDiscards finds it with the full
// ones.
func earlyPartialID(sid, addr string) string { return sid + "\x00" + addr }

// applyPartialDiscardTx applies primary's partial discard pd: the
// recipients with its address of the copies held under its id for that
// primary are done (Relayed, as a full discard makes them) — shadowed
// ones, and ones taken over from that copy and still pending here
// (discardSettles: the primary finished them, so sending them would be a
// duplicate). A recipient taken over and handed on already stays as it
// is: nothing is undone, nothing sent again. The copy stays for its
// other recipients; one with none left goes, as after a full discard.
// A copy this server does not hold for primary — another primary's, or
// none — is left alone (the rule of full discards, W-4). A copy whose
// record is in delivery here gets it when its results commit
// (applyEarlyDiscards). It reports whether a recipient was settled or
// the discard kept aside.
func (q *Manager) applyPartialDiscardTx(tx *Tx, primary string, pd PartialDiscard, now time.Time) (applied bool, gone *Message, settled []partialSettled, err error) {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	hexID, _, ok := strings.Cut(pd.ID, "-")
	id, perr := ParseID(hexID)
	relay := ok && perr == nil
	records := []ID{id}
	if !relay {
		records = tx.receiptCopies(primary, pd.ID) // a copy on receipt: named by its org id
		// An answer to XQUERYHELD keeps none (applyDiscardsTx).
		if len(records) == 0 && orgid.Valid(pd.ID) && !tx.heldOnly {
			// The copy is not here yet (its commit here is slower than
			// the primary's relay of these recipients; rt55 F2): kept,
			// as a full discard is (earlyReceiptDiscard), and applied
			// by the commit that stores the copy (keepCopyTx). The
			// primary forgets it once this commit holds it; dropped,
			// the copy would keep the recipients and a takeover would
			// send them again.
			return false, nil, nil, tx.AddEarlyDiscard(primary, earlyPartialID(pd.ID, pd.Addr), tx.discardAt, now)
		}
	}
	for _, id := range records {
		m, err := tx.Get(id)
		if err != nil {
			continue
		}
		// Recipients taken over under the old database are not this
		// one's to settle; a copy made against it since is (settlesNot).
		old := tx.takenUnderOther(primary, m.ID)
		if m.State == Active {
			// Kept aside, it settles every recipient with that address
			// under the id at the attempt's commit (applyEarlyDiscards):
			// none while one of them was taken over under the old
			// database. A copy this attempt is making there is on no
			// recipient yet (its ShadowedOK result is not committed):
			// kept for that commit as a full discard is — dropped here,
			// the primary forgot it and the recipient stayed shadowed.
			// One of a copy this server does not hold settles nothing
			// there, and goes with the early discards' age (PruneDiscards).
			taken := false
			for i := range m.Rcpts {
				r := &m.Rcpts[i]
				if r.Addr == pd.Addr && discardSettles(r, primary, pd.ID) && settlesNot(old, r, primary) {
					taken = true
				}
			}
			if !taken {
				// Counted once: a repeat of it (handed again until
				// acknowledged) finds it kept (OPS-2, rt28a F1).
				if !tx.hasEarlyDiscard(primary, earlyPartialID(pd.ID, pd.Addr)) {
					applied = true
				}
				if err := tx.AddEarlyDiscard(primary, earlyPartialID(pd.ID, pd.Addr), tx.discardAt, now); err != nil {
					return false, nil, nil, err
				}
			}
			continue
		}
		var these []partialSettled
		before := statusesNow(m)
		for i := range m.Rcpts {
			r := &m.Rcpts[i]
			if r.Addr != pd.Addr || settlesNot(old, r, primary) {
				continue
			}
			if discardSettles(r, primary, pd.ID) || relay && r.Status == Shadowed && discardSettles(r, primary, m.OrgID) {
				if err := tx.handedSettled(r); err != nil { // takenhanded.go
					return false, nil, nil, err
				}
				from := waitsIn(r)
				r.Status, r.LastReply = Relayed, partialDoneText(primary)+"; not sent from this server"
				these = append(these, partialSettled{m: m, rc: *r, from: from})
			}
		}
		if len(these) == 0 {
			continue
		}
		applied = true
		settled = append(settled, these...)
		if !relay {
			// A repeat push of the copy would bring the recipient back
			// (newReceiptRcpts): remembered as a full discard is
			// (earlystale.go).
			if err := tx.rememberAppliedDiscard(primary, earlyPartialID(pd.ID, pd.Addr), now); err != nil {
				return false, nil, nil, err
			}
		}
		// Its own copy elsewhere (one made again after a takeover) is
		// owed the same recipients (takensingle.go).
		if err := tx.copySettled(m, before, now); err != nil {
			return false, nil, nil, err
		}
		if m.State != Quarantined && nothingLeft(m) {
			if err := tx.Delete(m.ID); err != nil {
				return false, nil, nil, err
			}
			gone = m
		} else if err := tx.Put(m); err != nil {
			return false, nil, nil, err
		}
	}
	return applied, gone, settled, nil
}

// partialDoneReply starts the reply of a copy's recipient its primary
// finished (a partial discard): done here, never sent from here. The
// views show such a recipient as "done by primary", not "relayed"
// (StateView.RecipientStatus; rt22a L2). It carries no reply code: the
// holder learns only that the primary finished the recipient —
// delivered, relayed, or failed and reported to the sender there, or
// kept there: a quarantine there that absorbed it, a give-back
// (copySettled writes the partial discard for every recipient a commit
// settles, rr35 opsshadow) —, and a "250" read as a delivery of a
// recipient that had failed (rt34 O1).
const partialDoneReply = "finished by the primary "

// partialDoneReplyOld is the start of that reply as releases before
// rt34 stored it, with a 250 no next hop gave; ShownReply shows such a
// record's reply in today's words.
const partialDoneReplyOld = "250 2.0.0 finished by the primary "

// partialDoneText says what the holder knows of a recipient its primary
// finished, in its last reply (the tracking event says it in its own
// words, naming the primary first: partialEvents).
func partialDoneText(primary string) string {
	return partialDoneReply + primary + " (its partial discard): delivered, reported or kept there"
}

// partialDone reports whether reply is that of a recipient a partial
// discard finished, in this release's words or an older one's.
func partialDone(reply string) bool {
	return strings.HasPrefix(reply, partialDoneReply) || strings.HasPrefix(reply, partialDoneReplyOld)
}

// partialSettled is a recipient of a copy a partial discard settled, for
// its event once the commit returned.
type partialSettled struct {
	m  *Message
	rc Recipient
	// from is the queue the recipient waited in until it was settled
	// (waitsIn): its OUT/MIN.
	from string
	// delay: not a recipient settled but the record marked
	// delay-notified by the primary's delay note (delaynote.go; rc is
	// empty).
	delay bool
}

// partialEvents writes the events of the recipients partial discards
// settled (after their commit, as discardEvents).
func (q *Manager) partialEvents(primary string, settled []partialSettled) {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	if len(settled) == 0 {
		return
	}
	ev, flush := q.eventBatch()
	for _, s := range settled {
		var r *Recipient
		reply := partialDiscardReply(primary)
		if s.delay {
			reply = "delay note from " + primary + ": the delay DSN went from there; none is sent from here"
		} else {
			rc := s.rc
			r = &rc
		}
		// After the events of the commit that handed the copy over,
		// when those are not written yet (eventorder.go).
		if q.evOrder.later(s.m.ID, func() { q.ev.Event("discard", s.m, r, reply) }) {
			continue
		}
		ev.Event("discard", s.m, r, reply)
	}
	flush()
}

// partialDiscardReply is the tracked reply of a recipient primary's
// partial discard settled.
func partialDiscardReply(primary string) string {
	return "partial discard notification from " + primary + ": recipient finished there (delivered, reported or kept there)"
}
