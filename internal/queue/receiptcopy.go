package queue

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"umbra/internal/mailaddr"
	"umbra/internal/orgid"
)

// Shadow on receipt (SPEC SR-17). The server that received a message from
// a sender that cannot shadow (the primary) pushes a copy here before it
// answers 250; this server keeps it without delivering it and watches the
// primary as for any copy it made itself: the copy's recipients are
// Shadowed at the primary, the primary's shadowpeers record holds its
// address and database id, heartbeats and takeover follow (shadowstate.go).
//
// The shadow id of such a copy is its organisation message id: the
// primary chose both before its own commit, so that the commit that
// queues its message already names this server and the id it will
// discard (one local commit before the 250). Discards for it are found
// through the orgids index (receiptCopies). A discard that arrives
// before the copy (the primary delivered the message before the transfer
// ended) is kept in bucket early and the copy is then not stored.

// ErrBadCopy refuses a copy that cannot be kept: no valid organisation
// message id to name it by.
var ErrBadCopy = errors.New("queue: a shadow copy needs a valid organisation message id")

// SubmitShadowCopy stores m as a shadow copy held for primary (address
// addr for heartbeats, transport database dbID) in one commit with the
// primary's shadowpeers record. A primary that presents a database id
// other than the stored one lost its queue: the copies held for its
// old database are taken over in the same commit (SR-7). It returns
// once the commit is fsync'd; stored is false when the primary's discard
// for the copy arrived first (nothing is kept: the primary is done). A
// copy this server holds already (the same org id for the same primary:
// a push repeated after its reply was lost) is kept once; one with
// recipients the kept copy lacks (a second record of the primary's)
// adds them to it.
func (q *Manager) SubmitShadowCopy(ctx context.Context, m *Message, body []byte, primary, addr, dbID string) (stored bool, err error) {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	return q.SubmitShadowCopyBody(ctx, m, MemBody(body), primary, addr, dbID)
}

// SubmitShadowCopyBody is SubmitShadowCopy for a body that may be
// spooled: the copy's record names the spool file (spoolref.go), made
// durable by Finish before this commit; the file is never read here.
// When the commit fails the file is no record's: the caller removes it
// (SpoolFile.Abort), or the sweep at the next Open does. When the commit
// stores nothing (the discard came first, the copy is a repeat of one
// kept, its recipients are all quarantined here) the file is removed
// here after it, as SubmitBody does.
func (q *Manager) SubmitShadowCopyBody(ctx context.Context, m *Message, body Body, primary, addr, dbID string) (stored bool, err error) {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	res, err := q.SubmitShadowCopies(ctx, []ShadowCopy{{M: m, Body: body}}, primary, addr, dbID)
	if err != nil {
		return false, err
	}
	return res[0].Stored, res[0].Err
}

// ShadowCopy is one copy of a batch (SubmitShadowCopies).
type ShadowCopy struct {
	M    *Message
	Body Body
	// Mark is the rollback mark the primary's commit of this copy
	// raised (a batch's record of version 24 states it), 0 when only
	// the batch's is known: a discard kept before the copy came is
	// placed by it (earlystale.go), the batch's mark raising the mark
	// stored for the primary (marks.go).
	Mark uint64
}

// CopyResult is the outcome of one copy of a batch: Err refuses that copy
// alone (ErrNoRecipients, ErrBadCopy: nothing of it was written);
// Stored is false when nothing was kept although the copy is answered as
// taken (its discard came first, every recipient is quarantined here).
type CopyResult struct {
	Stored bool
	Err    error
	// New: this commit wrote a record of its own for the copy (c.M.ID),
	// not one found kept already — the one WithdrawShadowCopies may
	// remove when the push turns out to be one its primary gave up on.
	New bool
}

// SubmitShadowCopies is SubmitShadowCopyBody for several copies from one
// primary in one commit (a batch pushed on receipt, version 6 of the
// shadow verbs): the primary's shadowpeers record is written once, a
// database id change takes over its old copies once, and each copy is
// kept, or found kept already, or not stored, as SubmitShadowCopyBody
// does it alone. A copy that cannot be kept (no recipients, no valid
// organisation message id) is refused alone in its result; an error
// returned (the commit failed) means none of the batch was kept.
func (q *Manager) SubmitShadowCopies(ctx context.Context, copies []ShadowCopy, primary, addr, dbID string) ([]CopyResult, error) {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	return q.submitShadowCopies(ctx, copies, primary, addr, dbID, 0)
}

// submitShadowCopies is SubmitShadowCopies; a mark above 0 is the
// primary's rollback mark the copies came with (marks.go).
func (q *Manager) submitShadowCopies(ctx context.Context, copies []ShadowCopy, primary, addr, dbID string, mark uint64) ([]CopyResult, error) {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	res := make([]CopyResult, len(copies))
	now := q.clk.Now()
	valid := 0
	for i, c := range copies {
		m := c.M
		switch {
		case len(m.Rcpts) == 0:
			res[i].Err = ErrNoRecipients
			continue
		case !orgid.Valid(m.OrgID):
			res[i].Err = ErrBadCopy
			continue
		}
		valid++
		m.settleArrival(now, q.policy().MessageExpiration)
		m.Size = c.Body.Len()
		m.State = Shadow
		m.ShadowServer, m.ShadowID = "", ""
		m.Quarantine = "" // the primary's checks judge its message; a copy is never quarantined
		for j := range m.Rcpts {
			r := &m.Rcpts[j]
			r.Status, r.Primary, r.PrimaryAddr, r.ShadowID, r.PrimaryVia = Shadowed, primary, addr, m.OrgID, ""
		}
	}
	if valid == 0 {
		return res, nil
	}
	var taken, merged []*Message
	oldDB := ""
	// marked: copies in delivery marked for the takeover, counted with
	// those taken over; retried: taken-over copies made due by a new
	// database (newDatabaseTx).
	marked, retried := 0, 0
	// again: the copy is kept here already; named: a record names its body.
	again, named := make([]bool, len(copies)), make([]bool, len(copies))
	// stale: the discards kept aside each copy made stale (staleearly.go).
	stale := make([][]staleEarly, len(copies))
	err := q.store.Update(ctx, func(tx *Tx) error {
		taken, merged, oldDB, marked, retried = taken[:0], merged[:0], "", 0, 0
		clear(again)
		clear(named)
		clear(stale)
		for i := range res {
			if res[i].Err == nil {
				res[i].Stored, res[i].New = false, false
			}
		}
		// A database id this server keeps as another primary's is
		// refused before anything is recorded (rt17f-F1).
		if err := q.refuseDatabaseOfAnotherTx(tx, primary, dbID); err != nil {
			return err
		}
		// A primary that pushes a copy here takes this server as its
		// shadow server again: a refusal of this server's database it
		// made before (an id forgotten there since, a rename) ends in
		// this commit, so the copy is taken over if the primary dies
		// (disowned.go).
		if err := tx.ownedAgainTx(primary); err != nil {
			return err
		}
		p, err := tx.Peer(primary)
		if err != nil {
			return err
		}
		if p == nil {
			p = &ShadowPeer{Primary: primary, LastContact: now} // first seen now
		}
		if p.DatabaseID != "" && dbID != "" && p.DatabaseID != dbID {
			oldDB = p.DatabaseID
			reason := fmt.Sprintf("it returned with a new transport database (%s, was %s)", dbID, p.DatabaseID)
			if taken, marked, err = tx.takeoverTx(primary, reason, now); err != nil {
				return err
			}
			// The record is the new database's from now (newDatabaseTx).
			if retried, err = tx.newDatabaseTx(p, now); err != nil {
				return err
			}
		}
		if dbID != "" {
			p.DatabaseID = dbID
		}
		if addr != "" {
			p.Addr = addr
		}
		// A push is not a contact: the primary's discards come only in
		// sessions this server opens (heartbeats), and a primary that
		// keeps pushing copies must still be asked for them, so the last
		// contact of the database it pushes under stays as it is. A
		// record started by this push is the exception: a primary first
		// seen, or one that pushes under a new database id (its record
		// started afresh above, newDatabaseTx), is first heard now — its
		// last contact is the push's time, the old database's being no
		// time of the new one's (shadowout48 F1). But it proves the primary alive: the
		// failed heartbeats counted so far are forgotten (alive.go), so
		// that the next failure does not take over every copy — this one
		// included — of a primary that is pushing them. A primary that
		// dies after its push still has its copies taken over after its
		// retry count of failed heartbeats (SR-6), the first a timeout
		// after the push. A takeover done already stays: the next
		// contact makes those copies due again.
		resetFailuresTx(p, now)
		if err := tx.PutPeer(p); err != nil {
			return err
		}
		for i, c := range copies {
			if res[i].Err != nil {
				continue
			}
			// Placed by its own commit's mark where the batch states
			// it: the batch's is its latest copy's, above the mark of
			// a copy committed before its discard came (rt39 F1).
			own := mark
			if c.Mark > 0 {
				own = c.Mark
			}
			before := len(tx.staleEarly)
			stored, again1, err := keepCopyTx(tx, c.M, c.Body, primary, dbID, own, now, q.policy().MessageExpiration+shadowExpiryGrace)
			if err != nil {
				return err
			}
			stale[i] = tx.staleEarly[before:len(tx.staleEarly):len(tx.staleEarly)]
			res[i].Stored, again[i], named[i] = stored || again1, again1, stored
			res[i].New = stored
			if stored {
				// The relay of the same message may have reached this
				// server before its copy on receipt (the primary hands
				// the message on as soon as its own commit is made):
				// the original relayed here by the same primary settles
				// the copy now, as it would have on arrival
				// (nexthopcopy.go).
				gone, err := tx.mergeIntoRelayedHere(c.M, primary, now)
				if err != nil {
					return err
				}
				merged = append(merged, gone...)
			}
		}
		// Every mark a record states is one the primary's counter
		// reached, as the batch's XSHADOWMARK= is: the floor is raised
		// by the highest (a batch with none, or one below a record's,
		// left a rollback to between them uncaught: rr39).
		floor := mark
		for _, c := range copies {
			floor = max(floor, c.Mark)
		}
		if floor > 0 && dbID != "" {
			// A mark the primary reached with this database: the lowest
			// it may present from now on (marks.go).
			if seen, was := tx.primaryMark(primary); was != dbID || seen < floor {
				return tx.putPrimaryMark(primary, dbID, floor)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if oldDB != "" {
		// The summary every takeover logs (logTakeover): here no
		// session of the shadow manager saw the new id first.
		q.logTakeover(primary, len(taken)+marked, "it returned with a new transport database (a copy it pushed presented it)", "database_id", dbID, "was", oldDB)
	}
	q.afterTakeover(primary, oldDB, taken)
	if retried > 0 {
		q.log.Info("primary answers again; its taken-over copies are routed now", "primary", primary, "messages", retried)
		q.Kick()
	}
	q.primaryAnswered(primary) // a primary that pushes is alive
	q.answered.note(primary, q.clk.Now())
	kept := false
	// The "shadow" events of the batch's copies in one write of their
	// lines, not one per copy (as discardEvents does for their discards).
	ev, flush := q.eventBatch()
	for i, c := range copies {
		if res[i].Err != nil {
			continue
		}
		if c.Body.Spooled() && !named[i] { // after the commit: no record names it
			path, _, _ := c.Body.File()
			removeSpool(path)
		}
		note := q.noteStaleEarly(primary, c.M.OrgID, stale[i]) // logged and counted however the copy was kept
		if res[i].Stored && !again[i] {
			kept = true
			ev.Event("shadow", c.M, nil, "shadow copy on receipt for "+primary+note)
			q.noteArrivedCopies(primary, len(c.M.Rcpts)) // IN/MIN of its shadow queue
		}
	}
	for _, o := range merged {
		ev.Event("discard", o, nil, "shadow copy on receipt merged into the original relayed here before it")
		q.notifyGone(o.ID)
	}
	flush() // before the discards are asked for: a copy's "shadow" line comes before its "discard"
	if kept {
		// Its discard is asked for as the primary commits it (a watch
		// session, XQUERYDISCARD WAIT=), not at the next heartbeat: a
		// copy held for shadow_heartbeat_timeout after its delivery
		// would double the disk and the takeover work for nothing.
		q.markUrgent(primary)
	}
	return res, nil
}

// keepCopyTx stores one copy on receipt held for primary, whose
// shadowpeers record the caller writes in tx: stored when a record now
// names it, again when it was kept already (a push repeated after its
// reply was lost: kept once, so that one discard removes it; the
// recipients it lacked added to it), neither
// when its discard came first or every recipient is quarantined here.
// mark is the rollback mark the copy came with (0 for none) and dbID the
// primary's database id: a discard kept before a copy pushed after it
// does not apply to that copy (earlystale.go).
func keepCopyTx(tx *Tx, m *Message, body Body, primary, dbID string, mark uint64, now time.Time, foldTTL time.Duration) (stored, again bool, err error) {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	early, err := tx.takeEarlyForPush(primary, m.OrgID, dbID, mark)
	if err != nil || early {
		return false, false, err
	}
	// Partial discards that came before the copy (applyPartialDiscardTx):
	// those recipients are done at the primary, and the copy is kept
	// without them (none left: not kept, as after a full discard).
	if m.Rcpts, err = tx.takeEarlyPartials(primary, m.OrgID, dbID, mark, m.Rcpts); err != nil || len(m.Rcpts) == 0 {
		return false, false, err
	}
	if kept := tx.receiptCopies(primary, m.OrgID); len(kept) > 0 {
		// Kept already: a push repeated after its reply was lost — or
		// the copy of a second record of the primary's with this org
		// id (the message relayed to it again, for recipients it
		// deferred the first time). Its recipients not held yet join
		// the copy kept, so that one discard settles both (the primary
		// writes it once neither record needs the copy: siblingcopy.go).
		// A push carrying a later arrival renews the age of the copy
		// kept (renewReceiptCopyAge).
		if err := tx.renewReceiptCopyAge(kept, m); err != nil {
			return false, false, err
		}
		added, err := tx.addToReceiptCopy(kept, m)
		if err != nil || added {
			return false, true, err
		}
		if m.Rcpts = newReceiptRcpts(tx, kept, m); len(m.Rcpts) == 0 {
			return false, true, nil
		}
		// Every copy kept is in delivery (taken over; one writer): the
		// new recipients are a record of their own, settled by the
		// same discard (receiptCopies finds both).
	}
	if qr := tx.quarantinedRcpts(m.OrgID, m.ID); qr != nil {
		// The message is quarantined here already (it was relayed
		// here before its copy came): the quarantine holds it, and
		// a copy kept would be taken over and delivered
		// (quarantine.go).
		var keep []Recipient
		for _, r := range m.Rcpts {
			if !qr.has(r.Addr) {
				keep = append(keep, r)
			}
		}
		if len(keep) == 0 {
			return false, false, nil
		}
		m.Rcpts = keep
	}
	if folded, err := tx.foldIntoRelayed(m, primary, now, foldTTL); err != nil || folded {
		return false, folded, err
	}
	return true, false, tx.PutNewBody(m, body)
}

// newReceiptRcpts returns the recipients of the pushed copy m that no
// record of kept (the copies on receipt held for its org id) has.
func newReceiptRcpts(tx *Tx, kept []ID, m *Message) []Recipient {
	have := newRcptMatch[bool]() // rcptmatch.go: the local part exact first
	for _, id := range kept {
		o, err := tx.Get(id)
		if err != nil {
			continue
		}
		for _, r := range o.Rcpts {
			have.put(r.Addr, true)
		}
	}
	var out []Recipient
	for _, r := range m.Rcpts {
		if !have.has(r.Addr) {
			out = append(out, r)
		}
	}
	return out
}

// renewReceiptCopyAge gives each record of kept still holding the copy
// (renewCopyAge: not taken over, not in delivery) the age of the pushed
// copy m (Arrived, OrgEarlier, as settleArrival set them for m) when m
// carries an arrival later than the record's: the primary made the copy
// again for a record whose age a hold left younger than the copy's (a
// part resumed from a hold, markReleasedSingle) after withdrawing the
// discard this server had not fetched (RecopyPushing), and the expiry
// pass takes a copy over by its Arrived (pruneDiscards). Kept with its
// first receipt time, the copy was taken over at that receipt +
// message_expiration + shadowExpiryGrace and delivered while the
// primary still retried the part (split47). A push repeated after its
// reply was lost carries the arrival of the first, no later than the
// copy's receipt here, and changes nothing; so does one with no carried
// arrival (an older primary's: nothing says its age). The renewal only
// delays the copy's takeover at its expiry (for every recipient it
// holds: one discard settles them all); a takeover by failed heartbeats
// does not read the age.
func (t *Tx) renewReceiptCopyAge(kept []ID, m *Message) error {
	if m.CarriedArrival.IsZero() {
		return nil
	}
	for _, id := range kept {
		o, err := t.Get(id)
		if err != nil || !renewCopyAge(o, m) {
			continue
		}
		if err := t.Put(o); err != nil {
			return err
		}
	}
	return nil
}

// renewCopyAge gives o, a record that the pushed copy m joins, m's
// later age for the copy when m carries an arrival later than o's
// (renewReceiptCopyAge); it reports whether it changed o, which the
// caller puts. A record held as a copy alone (state Shadow) takes m's
// Arrived and OrgEarlier. One with mail of its own still to deliver here
// (a relayed record that kept recipients: foldIntoRelayed) becomes a
// copy alone once that mail is done, and is then taken over by its
// Arrived all the same: its Arrived moves to m's too, and its OrgEarlier
// by as much (whole seconds), so that its own mail keeps its age — the
// organisation's arrival (OrgArrived), which its expiry, delay notice
// and DSN's Arrival-Date read. Not a record that holds no copy any more
// (every recipient taken over: nothing is taken over by its Arrived), nor
// one in delivery (its attempt's commit writes it: one writer) nor a
// quarantined one (the quarantine expires it by its Arrived).
func renewCopyAge(o, m *Message) bool {
	if m.CarriedArrival.IsZero() || !m.CarriedArrival.After(o.Arrived) {
		return false
	}
	switch {
	case o.State == Shadow:
		o.keepReceived() // the copy's receipt here stays (received.go)
		o.Arrived, o.OrgEarlier = m.Arrived, m.OrgEarlier
		return true
	case o.State == Active || o.State == Quarantined || !hasShadowed(o):
		return false
	}
	step := m.Arrived.Sub(o.Arrived).Truncate(time.Second)
	if step <= 0 || o.OrgEarlier+step > maxOrgEarlierSeconds*time.Second {
		return false
	}
	o.keepReceived()
	o.Arrived, o.OrgEarlier = o.Arrived.Add(step), o.OrgEarlier+step
	return true
}

// addToReceiptCopy adds to one record of kept that is not in delivery
// the recipients of m it lacks (added reports that it wrote one, or
// that there were none to add); a record in delivery is left to its
// attempt's commit (one writer).
func (t *Tx) addToReceiptCopy(kept []ID, m *Message) (added bool, err error) {
	rcpts := newReceiptRcpts(t, kept, m)
	if len(rcpts) == 0 {
		return true, nil
	}
	for _, id := range kept {
		o, err := t.Get(id)
		if err != nil || o.State == Active {
			continue
		}
		o.Rcpts = append(o.Rcpts, rcpts...)
		return true, t.Put(o)
	}
	return false, nil
}

// foldIntoRelayed keeps a copy primary pushed (m, its recipients
// Shadowed at primary under its org id) as the copy of the same message
// this server relayed to primary in a shadow session, when it holds one:
// a server restored from a backup taken after the relay has that copy
// under its new database, and the primary, which saw the new database
// id, makes its copies of the old one again. Two records would be
// settled by two discards (the relay's shadow id, the org id), and the
// primary sends one: the other would be taken over and delivered again.
// So the relayed record's recipients shadowed at primary are filed under
// the org id — as a copy on receipt is, found by receiptCopies — and the
// pushed recipients it lacks are added to it, in this commit; nothing of
// the push is stored apart. The relay's shadow id still settles the
// record (applyDiscardsTx): a primary that lost the push's commit in a
// crash still names it. Not folded: a record in delivery (one writer),
// or one holding a pushed address in another state than shadowed at
// primary (then it is not the same copy).
func (t *Tx) foldIntoRelayed(m *Message, primary string, now time.Time, ttl time.Duration) (bool, error) {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	for _, id := range t.ByOrgID(m.OrgID) {
		if id == m.ID {
			continue
		}
		o, err := t.Get(id)
		if err != nil || o.State == Active || o.State == Quarantined {
			continue
		}
		at := newRcptMatch[int]() // rcptmatch.go: the local part exact first
		for i, r := range o.Rcpts {
			at.put(r.Addr, i)
		}
		relayed, same := false, true
		for _, r := range m.Rcpts {
			i, ok := at.get(r.Addr)
			if !ok {
				continue
			}
			or := o.Rcpts[i]
			if or.Status != Shadowed || or.Primary != primary {
				same = false
				break
			}
			relayed = relayed || or.ShadowID != m.OrgID
		}
		if !same || !relayed {
			continue
		}
		// The relay id the push stands for: the one its recipients the
		// relay had were filed under, when they agree. The push's own
		// recipients (a group member expanded at the primary) belong to
		// that record there; with several, nothing tells which, and they
		// keep the earlier rule (no entry).
		pushedFrom := ""
		for _, r := range m.Rcpts {
			if i, ok := at.get(r.Addr); ok && o.Rcpts[i].ShadowID != m.OrgID {
				if pushedFrom != "" && pushedFrom != o.Rcpts[i].ShadowID {
					pushedFrom = "\x00" // several
					break
				}
				pushedFrom = o.Rcpts[i].ShadowID
			}
		}
		for i := range o.Rcpts {
			if r := &o.Rcpts[i]; r.Status == Shadowed && r.Primary == primary {
				if r.ShadowID != m.OrgID {
					if err := t.putFolded(primary, m.OrgID, r.Addr, r.ShadowID, now); err != nil {
						return false, err
					}
				}
				r.ShadowID = m.OrgID
			}
		}
		for _, r := range m.Rcpts {
			if !at.has(r.Addr) {
				o.Rcpts = append(o.Rcpts, r)
				if pushedFrom == "" || pushedFrom == "\x00" {
					continue
				}
				if err := t.putFolded(primary, m.OrgID, r.Addr, pushedFrom, now); err != nil {
					return false, err
				}
			}
		}
		if err := t.pruneFolded(now, ttl); err != nil {
			return false, err
		}
		// A copy made again with a later age than the relayed copy's
		// (a part resumed from a hold) renews it, as a copy on receipt
		// kept is renewed (renewReceiptCopyAge).
		renewCopyAge(o, m)
		return true, t.Put(o)
	}
	return false, nil
}

// The relay id each folded recipient came from (queue11's leftover,
// AUDIT.md): a relay in two transactions left two records at the
// primary (copy ids X1, X2); after a restore here the primary pushes one
// of them again under the org id G, and the fold files every recipient
// shadowed at it under G. A relay's discard then settles, of the
// recipients filed under G, only those folded from that relay id —
// never those of the other record, which the primary still holds (no
// longer marked, it does not push it again) — nor the push's own
// recipients (filed with G itself). Bucket foldedrelay:
//
//	primary ‖ 0x00 ‖ org id ‖ 0x00 ‖ rcptKey(address) → folded-at (8, BE) ‖ 0x00 ‖ relay id
//
// written in the fold's commit, deleted by the discard that settles the
// recipient; entries older than message_expiration and the grace (a
// recipient taken over and delivered instead) go with the next fold's
// commit. A recipient the push alone carried (a group member expanded at
// the primary) is filed under the relay id of the push's other
// recipients. A recipient with no entry (folded by an earlier release,
// or pushed alone by a push whose other recipients came from several
// relay ids) keeps the earlier rule: any relay id of the record settles
// it.
//
// The key keeps the local part as written (rcptKey): "A@c.example" and
// "a@c.example" of a relayed domain are two mailboxes (RFC 5321 §2.4),
// possibly relayed in two transactions, and each is settled by its own.
// An earlier release keyed the folded address (mailaddr.AddrKey, before
// that strings.ToLower) and wrote no 0x00 before the relay id (a relay
// id never starts with one): such an entry is read, and deleted with its
// recipient, only for a record with one spelling of that address; for
// two that differ in case it names neither, which then keep their copy
// until the org id's discard or the copy's expiry (a duplicate at worst,
// never a copy dropped while its record is pending at the primary). Not
// migrated: the spelling it was written for is gone; it goes with the
// pruning.

func foldedPrefix(primary, org string) []byte {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	k := make([]byte, 0, len(primary)+len(org)+2+64)
	k = append(append(k, primary...), 0)
	return append(append(k, org...), 0)
}

func foldedKey(primary, org, addr string) []byte {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	return append(foldedPrefix(primary, org), rcptKey(addr)...)
}

// foldedKeysEarlier are the keys an earlier release may have filed addr
// under (the folded form, the lower-cased one where
// mailaddr.EarlierKeys takes it), other than foldedKey.
func foldedKeysEarlier(primary, org, addr string) [][]byte {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	exact, folded := rcptKey(addr), mailaddr.AddrKey(addr)
	var out [][]byte
	if folded != exact {
		out = append(out, append(foldedPrefix(primary, org), folded...))
	}
	if low := strings.ToLower(addr); low != exact && low != folded && slices.Contains(mailaddr.EarlierKeys(addr), low) {
		out = append(out, append(foldedPrefix(primary, org), low...))
	}
	return out
}

// foldedExact reports whether v, a foldedrelay value, was written keyed
// by rcptKey (a 0x00 before the relay id).
func foldedExact(v []byte) bool { return len(v) > 8 && v[8] == 0 }

func (t *Tx) putFolded(primary, org, addr, from string, now time.Time) error {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	v := make([]byte, 9, 9+len(from))
	binary.BigEndian.PutUint64(v, uint64(nanos(now)))
	return t.tx.Bucket(bucketFolded).Put(foldedKey(primary, org, addr), append(v, from...))
}

// pruneFolded forgets the fold entries older than ttl: once in a fold's
// commit, however many recipients it files.
func (t *Tx) pruneFolded(now time.Time, ttl time.Duration) error {
	b := t.tx.Bucket(bucketFolded)
	cutoff := now.Add(-ttl)
	var old [][]byte
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(v) < 8 || time.Unix(0, int64(binary.BigEndian.Uint64(v[:8]))).Before(cutoff) {
			old = append(old, bytes.Clone(k))
		}
	}
	for _, k := range old {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// foldedEntry is the fold entry of addr: the one keyed by rcptKey, else,
// when twin is false (addr is its record's one spelling of the folded
// address), an earlier release's; its key, or nil for none.
func (t *Tx) foldedEntry(primary, org, addr string, twin bool) (key, v []byte) {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	b := t.tx.Bucket(bucketFolded)
	k := foldedKey(primary, org, addr)
	if v := b.Get(k); foldedExact(v) {
		return k, v
	} else if v != nil && !twin {
		return k, v // an earlier release's, its key the same
	}
	if twin {
		return nil, nil
	}
	for _, k := range foldedKeysEarlier(primary, org, addr) {
		if v := b.Get(k); v != nil && !foldedExact(v) {
			return k, v
		}
	}
	return nil, nil
}

// relaySettlesFolded reports whether a discard of relay id sid settles
// r, a recipient shadowed at primary under the org id org (folded): it
// was folded from sid, or carries no entry (folded by an earlier
// release: the earlier rule). twin: r's record has another spelling of
// its folded address, so that an earlier release's entry is ambiguous:
// with one, no relay id settles it.
func (t *Tx) relaySettlesFolded(primary, org string, r *Recipient, sid string, twin bool) bool {
	primary = serverKey(primary)                       // one holder-side spelling (primaryfold.go)
	_, v := t.foldedEntry(primary, org, r.Addr, false) // an earlier release's too: a twin asks whether there is one
	switch {
	case v == nil:
		return true // no entry: the earlier rule
	case foldedExact(v):
		return string(v[9:]) == sid
	case twin:
		return false // an earlier release's, perhaps the other spelling's
	case len(v) < 8:
		return true
	default:
		return string(v[8:]) == sid
	}
}

// foldedAny reports whether bucket foldedrelay holds an entry of the org
// id org at primary (one seek): without one, no recipient of its record
// needs relaySettlesFolded or dropFolded, nor its case twins.
func (t *Tx) foldedAny(primary, org string) bool {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	b := t.tx.Bucket(bucketFolded)
	if b == nil || org == "" {
		return false
	}
	p := foldedPrefix(primary, org)
	k, _ := b.Cursor().Seek(p)
	return k != nil && bytes.HasPrefix(k, p)
}

// dropFolded forgets the fold entry of a recipient settled (an earlier
// release's only when it can be no other's: twin false).
func (t *Tx) dropFolded(primary, org, addr string, twin bool) error {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	if org == "" {
		return nil
	}
	if k, _ := t.foldedEntry(primary, org, addr, twin); k != nil {
		return t.tx.Bucket(bucketFolded).Delete(k)
	}
	return nil
}

// receiptCopies returns the messages holding a shadow copy on receipt
// named sid for primary: those whose org id is sid with a recipient
// Shadowed at primary under that id, or taken over from it and still
// pending (discardSettles).
func (t *Tx) receiptCopies(primary, sid string) []ID {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	var out []ID
	for _, m := range t.receiptCopyRecords(primary, sid) {
		out = append(out, m.ID)
	}
	return out
}

// receiptCopyRecords is receiptCopies with the records as read, for a
// caller that reads them anyway: each is decoded once.
func (t *Tx) receiptCopyRecords(primary, sid string) []*Message {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	if !orgid.Valid(sid) {
		return nil
	}
	var out []*Message
	for _, id := range t.ByOrgID(sid) {
		m, err := t.Get(id)
		if err != nil {
			continue
		}
		for _, r := range m.Rcpts {
			if discardSettles(&r, primary, sid) {
				out = append(out, m)
				break
			}
		}
	}
	return out
}

// takeEarlyPartials returns rcpts without those a partial discard for
// the copy on receipt sid of primary, kept before the copy came, names;
// those discards are taken (forgotten) in tx — one kept before a copy
// pushed after it (mark, dbID: takeEarlyForPush) is forgotten without
// leaving its recipient out.
func (t *Tx) takeEarlyPartials(primary, sid, dbID string, mark uint64, rcpts []Recipient) ([]Recipient, error) {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	if k, _ := t.tx.Bucket(bucketEarly).Cursor().First(); k == nil || !orgid.Valid(sid) {
		return rcpts, nil
	}
	var keep []Recipient
	for _, r := range rcpts {
		done, err := t.takeEarlyForPush(primary, earlyPartialID(sid, r.Addr), dbID, mark)
		if err != nil {
			return nil, err
		}
		if !done {
			keep = append(keep, r)
		}
	}
	return keep, nil
}

// earlyReceiptDiscard keeps a discard for a copy on receipt that is not
// here yet, so that the copy is not stored when it comes (pruned with
// the other early discards after message_expiration).
func (t *Tx) earlyReceiptDiscard(primary, sid string, now time.Time) error {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	if !orgid.Valid(sid) {
		return nil
	}
	return t.AddEarlyDiscard(primary, sid, t.discardAt, now)
}

// receiptShadowed reports whether r is a recipient of a copy on receipt
// (its shadow id is the message's org id): this server never handed it
// on, so a copy of the message relayed here must not merge into it
// (mergeHeld) — the primary's discard may remove it before the relayed
// copy is delivered.
func receiptShadowed(m *Message, r Recipient) bool {
	return r.Status == Shadowed && r.ShadowID != "" && r.ShadowID == m.OrgID
}

// CopiedOnReceipt reports whether m's shadow server holds a copy made on
// receipt here (SR-17: its shadow id is m's org id), rather than being
// the server m was relayed from in a shadow session.
func (m *Message) CopiedOnReceipt() bool {
	return m.ShadowServer != "" && m.OrgID != "" && m.ShadowID == m.OrgID
}
