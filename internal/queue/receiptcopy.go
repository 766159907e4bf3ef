package queue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

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
// a push repeated after its reply was lost) is kept once.
func (q *Manager) SubmitShadowCopy(ctx context.Context, m *Message, body []byte, primary, addr, dbID string) (stored bool, err error) {
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
	if len(m.Rcpts) == 0 {
		return false, ErrNoRecipients
	}
	if !orgid.Valid(m.OrgID) {
		return false, ErrBadCopy
	}
	now := q.clk.Now()
	if m.Arrived.IsZero() {
		m.Arrived = now
	}
	m.Size = body.Len()
	m.State = Shadow
	m.ShadowServer, m.ShadowID = "", ""
	m.Quarantine = "" // the primary's checks judge its message; a copy is never quarantined
	for i := range m.Rcpts {
		r := &m.Rcpts[i]
		r.Status, r.Primary, r.PrimaryAddr, r.ShadowID, r.PrimaryVia = Shadowed, primary, addr, m.OrgID, ""
	}
	var taken []*Message
	oldDB, again, named := "", false, false
	err = q.store.Update(ctx, func(tx *Tx) error {
		taken, oldDB, stored, again, named = taken[:0], "", false, false, false
		early, err := tx.TakeEarlyDiscard(primary, m.OrgID)
		if err != nil || early {
			return err
		}
		if len(tx.receiptCopies(primary, m.OrgID)) > 0 {
			// The same copy again (a push repeated after its reply was
			// lost): kept once, so that one discard removes it.
			again = true
			return nil
		}
		if qr := tx.quarantinedRcpts(m.OrgID, m.ID); qr != nil {
			// The message is quarantined here already (it was relayed
			// here before its copy came): the quarantine holds it, and
			// a copy kept would be taken over and delivered
			// (quarantine.go).
			var keep []Recipient
			for _, r := range m.Rcpts {
				if _, ok := qr[strings.ToLower(r.Addr)]; !ok {
					keep = append(keep, r)
				}
			}
			if len(keep) == 0 {
				return nil
			}
			m.Rcpts = keep
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
			if taken, _, err = tx.takeoverTx(primary, reason, now); err != nil {
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
		// contact stays as it is. But it proves the primary alive: the
		// failed heartbeats counted so far are forgotten (the next
		// heartbeat is due at once, as the last contact is old), so that
		// the next failure does not take over every copy — this one
		// included — of a primary that is pushing them. A primary that
		// dies after its push still has its copies taken over after its
		// retry count of failed heartbeats (SR-6). A takeover done
		// already stays: the next contact makes those copies due again.
		if p.Failures > 0 {
			p.Failures, p.LastTry = 0, time.Time{}
		}
		if err := tx.PutPeer(p); err != nil {
			return err
		}
		stored, named = true, true
		return tx.PutNewBody(m, body)
	})
	if err != nil {
		return false, err
	}
	if body.Spooled() && !named { // after the commit: no record names it
		path, _, _ := body.File()
		removeSpool(path)
	}
	q.afterTakeover(primary, oldDB, taken)
	if again {
		return true, nil
	}
	if stored {
		q.ev.Event("shadow", m, nil, "shadow copy on receipt for "+primary)
		// Its discard is asked for as the primary commits it (a watch
		// session, XQUERYDISCARD WAIT=), not at the next heartbeat: a
		// copy held for shadow_heartbeat_timeout after its delivery
		// would double the disk and the takeover work for nothing.
		q.markUrgent(primary)
	}
	return stored, nil
}

// receiptCopies returns the messages holding a shadow copy on receipt
// named sid for primary: those whose org id is sid with a recipient
// Shadowed at primary under that id.
func (t *Tx) receiptCopies(primary, sid string) []ID {
	if !orgid.Valid(sid) {
		return nil
	}
	var out []ID
	for _, id := range t.ByOrgID(sid) {
		m, err := t.Get(id)
		if err != nil {
			continue
		}
		for _, r := range m.Rcpts {
			if r.Status == Shadowed && r.Primary == primary && r.ShadowID == sid {
				out = append(out, id)
				break
			}
		}
	}
	return out
}

// earlyReceiptDiscard keeps a discard for a copy on receipt that is not
// here yet, so that the copy is not stored when it comes (pruned with
// the other early discards after message_expiration).
func (t *Tx) earlyReceiptDiscard(primary, sid string, now time.Time) error {
	if !orgid.Valid(sid) {
		return nil
	}
	return t.AddEarlyDiscard(primary, sid, now)
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
