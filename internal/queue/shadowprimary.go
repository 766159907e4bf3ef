package queue

import (
	"context"
	"strings"
	"time"

	"umbra/internal/header"
)

// DatabaseID is this server's transport database id (shadow verbs, W-2).
func (q *Manager) DatabaseID() string { return q.store.DatabaseID() }

// Discards returns up to max discard notifications owed to a shadow
// server; ack forgets them, and is called only once the peer provably has
// them: the reply was written and the peer spoke again (W-4, SR-15), and
// only those still holding what was sent (forgetsent.go). One whose
// forgetting failed is sent again: a shadow server ignores ids it does
// not know.
func (q *Manager) Discards(server string, max int) ([]string, func()) {
	lines, notes := q.owed(server, max, false, false)
	return lines, q.forgetSent(server, lines, notes)
}

// pruneDiscards drops notifications no shadow server fetched within the
// message expiration. A shadow copy older than that (and shadowExpiryGrace,
// time for the primary's own expiry and its discard to arrive) was never
// confirmed by its primary: it is taken over and routed now, and bounced
// with a DSN by that attempt's commit when no route takes it — never
// dropped without a trace (SR-13).
func (q *Manager) pruneDiscards(now time.Time) {
	// The expired copies first: their takeover renews the handed notes
	// the backlog's pruning would drop with them (takenhanded.go).
	defer q.pruneBacklog(now) // retention.go: every expired record, not one batch
	q.pruneQuarantine(now)
	cutoff := now.Add(-q.policy().MessageExpiration)
	var n int
	var stale []*Message
	var disownedTaken map[string]int // by primary: copies of a primary that disowned this server (disowned.go)
	kept := q.expiryKept()           // primaries that answer and refuse this server: their copies are theirs to expire
	var keptN map[string]int
	err := q.store.Update(context.Background(), func(tx *Tx) error {
		var err error
		disownedTaken, keptN = map[string]int{}, map[string]int{}
		if n, err = tx.PruneDiscards(cutoff, 10000); err != nil {
			return err
		}
		if _, err = tx.PruneDelivered(now.Add(-q.duplicateWindow()), 10000); err != nil {
			return err
		}
		if _, err = tx.PruneSubmitKeys(cutoff, 10000); err != nil {
			return err
		}
		stale = stale[:0]
		for _, st := range tx.Queues() {
			if !strings.HasPrefix(st.Name, "shadow:") {
				continue
			}
			for _, id := range tx.InQueue(st.Name, 10000) {
				m, err := tx.Get(id)
				if err != nil || m.State != Shadow || !m.Arrived.Before(cutoff.Add(-shadowExpiryGrace)) {
					continue
				}
				// A copy of a primary that refused this server's
				// database as another server's is taken over too: the
				// refusal is a clone's (its copies stale, the original
				// finished on the data dir's owner: a duplicate) but also
				// a renamed server's, whose copies are the only ones
				// (dropped, a loss). A loss is worse (disowned.go).
				primary, _ := disownedCopy(tx, m)
				keep := func(p string) bool {
					// Not a primary that disowned this server: its
					// refusal is a renamed server's too (above).
					if _, ok := kept[p]; ok && tx.disownedBy(p) == "" {
						keptN[p]++
						return true
					}
					return false
				}
				if taken, err := expireShadowCopy(tx, m, now, keep); err != nil {
					return err
				} else if taken {
					stale = append(stale, m)
					if primary != "" {
						disownedTaken[primary]++
					}
				}
			}
		}
		return nil
	})
	for primary, n := range disownedTaken {
		q.log.Warn("expired shadow copies of a primary that refused this server's transport database as another server's: taken over (a duplicate if this server runs on a copy of that server's data dir; a renamed server's copies are the only ones)",
			"primary", primary, "count", n, "reply", q.ShadowDisownedBy(primary))
	}
	if err == nil {
		total := 0
		for _, n := range keptN {
			total += n
		}
		q.expiredKept.Store(int64(total))
		for primary, n := range keptN {
			q.log.Warn("expired shadow copies kept, not taken over: their primary answers and refuses this server with the database they were made against, and owns their expiry (it delivered them or bounces them); kept until it lets this server in (its discards settle them) or stops answering (its failed heartbeats take them over); umbra shadow list",
				"primary", primary, "count", n, "why", kept[primary])
		}
	}
	for _, m := range stale {
		q.ev.Event("takeover", m, nil, "shadow copy expired unconfirmed")
	}
	if len(stale) > 0 {
		q.log.Warn("unconfirmed shadow copies expired: taken over", "count", len(stale))
		q.Kick()
	}
	if err != nil {
		q.log.Error("pruning stale discard notifications failed", "err", err)
	} else if n > 0 {
		q.log.Info("stale discard notifications dropped", "count", n)
	}
}

// ShadowPrimaries lists the primaries this server holds shadow copies
// for (taken over or not), with the address of each and the send
// connector to log in as ("" inside the organisation), for heartbeats.
func (q *Manager) ShadowPrimaries() (map[string]string, error) {
	peers, err := q.ShadowPeers()
	out := map[string]string{}
	for _, p := range peers {
		out[p.Primary] = p.Addr
	}
	return out, err
}

// ApplyDiscards releases the shadow copies a primary says it has finished
// with (SR-3). Ids this server does not know are ignored, never taken as
// "discard everything" (W-4). A message goes once no recipient is left
// shadowed or pending.
func (q *Manager) ApplyDiscards(primary string, ids []string) (int, error) {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	n := 0
	var left map[string]int
	var gone, given []*Message
	var settled []partialSettled
	err := q.store.Update(context.Background(), func(tx *Tx) error {
		var err error
		given, left = given[:0], map[string]int{}
		n, gone, settled, err = q.applyDiscardsTx(tx, primary, ids, q.clk.Now(), &given, left)
		return err
	})
	if err == nil {
		q.afterCopyGiven(primary, given)
		q.partialEvents(primary, settled)
		q.noteLeft(left)
		// Only a committed discard is tracked: a failed commit leaves
		// the copies here, and the primary's retry writes their events.
		q.discardEvents(primary, gone)
	}
	return n, err
}

// QueueMerged is the queue named in the event of a recipient merged into
// a queued copy of the same message (Submit).
const QueueMerged = "merged"

type mergedRcpt struct {
	rcpt Recipient
	into ID
	// carry: the original carries the sender's copy (carried.go): its
	// discard is owed when the original ends, not now.
	carry bool
	// intoAddr is the address of the original's recipient it merged
	// into (carried.go: the carried copy's recipient is settled when
	// that one is).
	intoAddr string
}

// mergeHeld finds the recipients of a new message m that a message
// already queued here with the same organisation message id still owes
// (SR-14; issue 20 item 4): a copy resubmitted by a shadow server that
// took over while this server, back with its old database, still has
// the original. Such a recipient is the original's to deliver; relaying
// the copy too would send the message twice. A recipient of the original
// merges when it is still pending here, or shadowed at a primary that is
// not the copy's sender (this server already handed it on, and holds
// its shadow copy). Never merged: a recipient the original relayed,
// delivered or failed, and a shadowed one coming back from its own
// primary — a copy routed back here (a route that changed under way)
// must be delivered, and a loss is worse than a duplicate.
//
// Only a genuine takeover resubmission merges (tookOver): the copy comes,
// in a shadow session, from the server the original itself was received
// from in one (the original's ShadowServer, which kept the shadow copy it
// now resubmits), and carries no more Received: fields than the original
// had when it arrived here. A copy that went round a relay loop (two
// hubs whose topologies disagree; a server relaying to itself) has more,
// or comes from another server: merging it would drop the very copy the
// original was relayed as, and the message would vanish. Such a copy
// merges only recipients the original still owes and never handed on
// (waitingHere), only while the original is Ready (it cannot be the
// relay of those), and only when the merge releases no copy
// (releasesNoCopy): a copy relayed in no shadow session, or under the
// original's own copy. A taken-over copy that comes back through another
// hub in a shadow session (rt32 F16) is that hub's copy — since the
// takeover handed the original's own copy on, the message's only one
// off this server — so it is queued and delivered beside the original:
// a duplicate (README window 1), not a message on one disk.
//
// It returns the recipients to keep and the merged ones; discardNow says
// that every recipient merged and the sender's shadow copy
// (m.ShadowServer, m.ShadowID) is not one the original will discard when
// it finishes (another shadow id, or the original has nothing pending),
// so the discard is owed at once.
func mergeHeld(tx *Tx, m *Message, body Body) (keep []Recipient, merged []mergedRcpt, discardNow bool) {
	if m.OrgID == "" {
		return m.Rcpts, nil, false
	}
	var held, waiting []*Message
	for _, id := range tx.ByOrgID(m.OrgID) {
		if id == m.ID {
			continue
		}
		o, err := tx.Get(id)
		switch {
		case err != nil:
		// A quarantined original takes every arrival of its message (the
		// org id is kept only from transport servers of the organisation,
		// or made here): one quarantine record per message, whoever sends
		// it again (a primary that restarted before it noted the relay).
		case o.State == Quarantined || m.ShadowServer != "" && tookOver(tx, o, m, body):
			held = append(held, o)
		case o.State == Ready:
			// Any other copy of it (relayed here by another hub: a
			// taken-over copy re-routed through the point of failure)
			// merges only into recipients this original still owes and
			// never handed on (waitingHere), and only when the merge
			// releases no copy (releasesNoCopy); not while it is in
			// delivery, where its attempt may be handing them on as that
			// very copy.
			waiting = append(waiting, o)
		}
	}
	if len(held) == 0 && len(waiting) == 0 {
		return m.Rcpts, nil, false
	}
	covered := true // the original's own discard covers the sender's copy
	carriable := m.ShadowServer != "" && m.ShadowID != ""
	// Each original's recipients, matched by rcptMatch (rcptmatch.go: the
	// local part exact first; "TD@" and "td@" of a relayed domain are two).
	at := func(o *Message) *rcptMatch[int] {
		mt := newRcptMatch[int]()
		for i, orc := range o.Rcpts {
			mt.put(orc.Addr, i)
		}
		return mt
	}
	heldAt, waitingAt := make([]*rcptMatch[int], len(held)), make([]*rcptMatch[int], len(waiting))
	for i, o := range held {
		heldAt[i] = at(o)
	}
	for i, o := range waiting {
		waitingAt[i] = at(o)
	}
	for _, r := range m.Rcpts {
		var into *Message
		carry, intoAddr := false, ""
		for k, o := range held {
			if i, ok := heldAt[k].get(r.Addr); ok {
				orc := o.Rcpts[i]
				if (orc.Status == Pending ||
					orc.Status == Shadowed && m.ShadowServer != "" && !sameServer(orc.Primary, m.ShadowServer) &&
						!receiptShadowed(o, orc)) && sameCopy(o, orc, m) {
					into, carry, intoAddr = o, false, orc.Addr
				} else if into == nil && carriable && waitingHere(orc) && o.State == Ready {
					// Owed here under another copy id: merged, the
					// sender's copy carried by the original (carried.go).
					into, carry, intoAddr = o, true, orc.Addr
				}
			}
		}
		for k, o := range waiting {
			if i, ok := waitingAt[k].get(r.Addr); ok && into == nil && waitingHere(o.Rcpts[i]) {
				if releasesNoCopy(o, m) {
					into, intoAddr = o, o.Rcpts[i].Addr
				} else if carriable {
					into, carry, intoAddr = o, true, o.Rcpts[i].Addr // carried.go
				}
			}
		}
		if into == nil {
			keep = append(keep, r)
			continue
		}
		merged = append(merged, mergedRcpt{rcpt: r, into: into.ID, carry: carry, intoAddr: intoAddr})
		if carry {
			continue // its discard comes with the original's end
		}
		// A quarantined or held original's discard went when it was
		// quarantined or held (hold.go), and the next comes only when it
		// ends: the sender's copy must go now, or it expires unconfirmed
		// and is delivered.
		if into.ShadowServer != m.ShadowServer || into.ShadowID != m.ShadowID || len(into.Pending()) == 0 ||
			into.State == Quarantined || into.State == Suspended {
			covered = false
		}
	}
	discardNow = len(keep) == 0 && m.ShadowServer != "" && m.ShadowID != "" && !covered
	return keep, merged, discardNow
}

// sameCopy reports whether recipient orc of original o may take m's
// recipient as far as the sender's copy goes. A merge that leaves
// nothing of m owes the discard of m's copy at once unless o's own
// discard will name it (the same id), so merging under another id drops
// that copy now: sound only when o does not need it — orc shadowed at
// another primary (o handed it on: the message is there and in o's copy
// here), or o quarantined or held (its discard went already, and the
// copy goes with the merge). A recipient o still owes (pending) merges
// only under the same id: under another — a copy named per transaction
// (copyid.go), or a copy on receipt taken over and sent back by a
// shadow server below version 8 under its relay id — the sender's copy
// is the only other one of the original, and m is kept as a record of
// its own: a duplicate, never the message on one disk.
func sameCopy(o *Message, orc Recipient, m *Message) bool {
	return m.ShadowID == o.ShadowID || o.State == Quarantined || o.State == Suspended ||
		orc.Status == Shadowed && !perTransactionID(m.ShadowID)
}

// releasesNoCopy reports whether merging m into the waiting original o
// leaves every copy of the message where it was: m came in no shadow
// session (its sender keeps no copy of it), or its copy is o's own (o's
// discard settles it when o ends). Otherwise the merge would owe the
// discard of the sender's copy at once, and o — whose own copy a
// takeover handed on — would be on this server's disk only until it is
// delivered: a duplicate is better than that, so m is queued.
func releasesNoCopy(o, m *Message) bool {
	return m.ShadowServer == "" || m.ShadowID == "" ||
		sameServer(m.ShadowServer, o.ShadowServer) && m.ShadowID == o.ShadowID
}

// waitingHere reports whether r is a recipient this server owes and
// never handed on: pending, and not a taken-over copy's (which keeps its
// Primary until an attempt hands it on, and which its primary's discard
// may still settle, or a returning primary take back).
func waitingHere(r Recipient) bool {
	return r.Status == Pending && r.Primary == ""
}

// tookOver reports whether m (with body) is the copy of the queued
// original o that o's shadow server took over and resubmits (see
// mergeHeld): it comes from o's ShadowServer and has not travelled
// further than o had when it arrived here.
func tookOver(tx *Tx, o, m *Message, body Body) bool {
	if o.ShadowServer == "" || !sameServer(o.ShadowServer, m.ShadowServer) {
		return false
	}
	ob, err := tx.BodyOf(o.ID)
	if err != nil {
		return false
	}
	mh, err1 := body.ReadHeaderSection(spoolMaxHeaderRead)
	oh, err2 := ob.ReadHeaderSection(spoolMaxHeaderRead)
	if err1 != nil || err2 != nil {
		return false
	}
	return header.Count(mh, "Received") <= header.Count(oh, "Received")
}

// SetExpiryKeeper gives the queue the shadow view's judgement of the
// primaries copies are held for (nil: none). keep(primary) says why the
// expired, unconfirmed copies held for primary are kept, not taken over
// ("": taken over at their expiry, as before): the primary answers and
// refuses this server with the database the copies were made against —
// it owns the messages' expiry (it delivered them, or bounces them),
// and its discards cannot reach this server while it refuses, so a
// takeover would deliver a second time (shadow31 S3). It is called
// outside any transaction of the queue's.
func (q *Manager) SetExpiryKeeper(keep func(primary string) string) {
	if keep == nil {
		q.expiryKeeper.Store(nil)
		return
	}
	q.expiryKeeper.Store(&keep)
}

// ExpiredKeptCopies is the number of shadow copies past their expiry
// the last expiry pass kept, not taken over, because their primary
// answers and refuses this server with the database they were made
// against (expiryKept; umbra_shadow_expired_kept_copies): 0 before the
// first pass, and after a pass that kept none.
func (q *Manager) ExpiredKeptCopies() int { return int(q.expiredKept.Load()) }

// expiryKept asks the expiry keeper (SetExpiryKeeper) about every
// primary copies are held for: the primaries whose expired copies are
// kept, with why. Outside any transaction: the keeper reads the shadow
// view, whose own commits must not wait on this pass's.
func (q *Manager) expiryKept() map[string]string {
	kp := q.expiryKeeper.Load()
	if kp == nil {
		return nil
	}
	peers, err := q.ShadowPeers()
	if err != nil {
		return nil // not judged: taken over as before
	}
	var out map[string]string
	for _, p := range peers {
		if why := (*kp)(p.Primary); why != "" {
			if out == nil {
				out = map[string]string{}
			}
			out[p.Primary] = why
		}
	}
	return out
}
