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
)

// Giving a message to the holder of its shadow copy (rt43 F4; shadow
// verb version 10, package smtp). A message whose body this server finds
// unreadable (a spool file missing or cut short: loadBody) goes to the
// poison queue; while it names a shadow copy on another server
// (ShadowServer, ShadowID) that is not known lost (no singlecopy mark),
// that copy is the sound one, and only a takeover would deliver it —
// which happens only if this server fails. So the commit that holds the
// message as poison also gives it to the holder: an entry
//
//	handback serverKey(server) (holderfold.go) ‖ 0x00 ‖ shadow id → message id (8, BE) ‖ prepared-at (8, BE)
//
// which the holder fetches with its discard notifications (a line
// "<shadow id> TAKEOVER" after the full and partial ones, only to a query
// that asked: XQUERYDISCARD … TAKEOVER). The holder takes the copy over
// in the commit that applies the batch (as after failed heartbeats, but
// for that copy only, and never given back) and delivers it. The batch is
// forgotten here once the holder provably has it (SR-15: it asks again or
// quits, after its commit): then, in one commit, the entry and the
// poison record go (tracked as a giveback event "given to <holder>"),
// and the spool file with the record's last reference. Until then the
// message stays poison here, listed, and `message remove` without
// --force refuses it (RefuseRemoveDamaged).
//
// Not given: a message with another record here under the same copy
// (a fan-out split: the copy covers both, and the other may still be
// delivered from here), one whose copy is known lost, one with no copy,
// and one no longer poison when the holder fetches the line (the
// operator resumed or removed it: the line is not sent, the entry is
// dropped). A holder of an older version never asks: its copy waits as
// before, and the operator's path is `message show` (it names the
// holder) and a takeover if this server fails.

// HandBackSuffix ends an XQUERYDISCARD reply line that gives the message
// of the copy named before it to the holder: "<shadow id> TAKEOVER".
const HandBackSuffix = " TAKEOVER"

// handBackOffered, a 17th byte of a handback entry's value, marks the
// entry's line sent to the holder (DiscardsHandBack): the holder may
// have taken the copy over since.
const handBackOffered = 1

func handBackKey(server, sid string) []byte {
	server = serverKey(server) // holderfold.go
	k := make([]byte, 0, len(server)+len(sid)+1)
	return append(append(append(k, server...), 0), sid...)
}

// CopyHolder returns the server holding a shadow copy of m, "" when none
// is known: m names no copy, or its copy is known lost (singlecopy).
func (t *Tx) CopyHolder(m *Message) string {
	if m.ShadowServer == "" || m.ShadowID == "" {
		return ""
	}
	if _, _, _, lost := singleMark(t.tx.Bucket(bucketSingle).Get(m.ID.Key())); lost {
		return ""
	}
	return m.ShadowServer
}

// otherRecordUnderCopy reports whether a record other than m's names m's
// shadow copy (whatever its state).
func (t *Tx) otherRecordUnderCopy(m *Message) bool {
	ids := t.ByOrgID(m.OrgID)
	if m.ShadowID != m.OrgID {
		ids = append(ids, t.ByOrgID(m.ShadowID)...)
	}
	for _, oid := range ids {
		if oid == m.ID {
			continue
		}
		if o, err := t.Get(oid); err == nil && t.sameHolderTx(o.ShadowServer, m.ShadowServer) && o.ShadowID == m.ShadowID { // one holder, as siblingsUnderCopy
			return true
		}
	}
	return false
}

// handBackTx gives m, held as poison for an unreadable body, to the
// holder of its copy, in tx. It returns the holder, "" when m is not
// given (see above).
func (t *Tx) handBackTx(m *Message, now time.Time) (string, error) {
	holder := t.CopyHolder(m)
	if holder == "" || m.State != Poison || t.otherRecordUnderCopy(m) {
		return "", nil
	}
	var v [16]byte
	binary.BigEndian.PutUint64(v[:8], uint64(m.ID))
	binary.BigEndian.PutUint64(v[8:], uint64(nanos(now)))
	t.noteOwed(holder)
	return holder, t.tx.Bucket(bucketHandBack).Put(handBackKey(holder, m.ShadowID), v[:])
}

type handBack struct {
	holder string // the name it is filed under (holderNamesTx)
	sid    string
	id     ID
}

// handBacks lists up to max messages given to server (their copies'
// ids), each still here as poison under that copy; entries of any other
// are returned in stale, to be dropped (not sent). Those filed under a
// name the topology gave server's database before are server's too
// (holdernames.go).
func (t *Tx) handBacks(server string, max int) (out, stale []handBack) {
	for _, name := range t.holderNamesTx(server) {
		o, s := t.handBacksFiled(name, max-len(out))
		out, stale = append(out, o...), append(stale, s...)
	}
	return out, stale
}

// handBacksFiled is handBacks of the entries filed under name.
func (t *Tx) handBacksFiled(server string, max int) (out, stale []handBack) {
	prefix := append([]byte(serverKey(server)), 0)
	c := t.tx.Bucket(bucketHandBack).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(out) < max; k, v = c.Next() {
		if len(v) < 8 {
			continue
		}
		h := handBack{holder: server, sid: string(k[len(prefix):]), id: ID(binary.BigEndian.Uint64(v[:8]))}
		if m, err := t.Get(h.id); err == nil && m.State == Poison && sameServer(m.ShadowServer, server) && m.ShadowID == h.sid {
			out = append(out, h)
		} else if _, ok := t.givenDamaged(h.id, server, h.sid); ok { // damaged.go
			out = append(out, h)
		} else {
			stale = append(stale, h)
		}
	}
	return out, stale
}

// DiscardsHandBack is DiscardsPartial for a shadow server of version 11:
// after the full and partial notifications, the messages given to it
// ("<id> TAKEOVER"), up to max lines in all. ack forgets exactly those
// sent and removes the records of the messages given (the holder has
// taken them over: it asks again only after its commit).
//
// Each entry sent is marked offered in a commit before its line is
// returned (poison11's leftover): from then on the holder may have taken
// the copy over, whether or not an acknowledgement comes, and a resume
// here would deliver the message twice; ResumeMessage refuses an
// offered message (refuseGiven).
func (q *Manager) DiscardsHandBack(server string, max int) ([]string, func()) {
	return q.handBackAfter(server, max, q.DiscardsPartial)
}

// handBackAfter is DiscardsHandBack after the notifications first lists
// (DiscardsPartial, or DiscardsDelayed's with the delay notes).
func (q *Manager) handBackAfter(server string, max int, first func(string, int) ([]string, func())) ([]string, func()) {
	lines, ackPartial := first(server, max)
	var hs, stale []handBack
	if n := max - len(lines); n > 0 {
		_ = q.store.View(func(tx *Tx) error {
			hs, stale = tx.handBacks(server, n)
			return nil
		})
	}
	if len(hs)+len(stale) > 0 { // a commit only when there is something (every query comes here)
		n := max - len(lines)
		if err := q.store.Update(context.Background(), func(tx *Tx) error {
			hs, stale = tx.handBacks(server, n)
			b := tx.tx.Bucket(bucketHandBack)
			// Never sent: the record went or is no longer poison
			// (resumed, removed). Dropped now, as no acknowledgement
			// comes for them.
			for _, h := range stale {
				if err := b.Delete(handBackKey(h.holder, h.sid)); err != nil {
					return err
				}
			}
			for _, h := range hs {
				k := handBackKey(h.holder, h.sid)
				v := b.Get(k)
				if len(v) < 16 || len(v) > 16 && v[16] == handBackOffered {
					continue
				}
				if err := b.Put(k, append(bytes.Clone(v[:16]), handBackOffered)); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			// Nothing offered without its mark: the lines wait for the
			// next query.
			q.log.Error("offering messages to their copy's holder failed", "shadow_server", server, "err", err)
			hs = nil
		}
	}
	for _, h := range hs {
		lines = append(lines, h.sid+HandBackSuffix)
	}
	return lines, func() {
		ackPartial()
		if len(hs) == 0 {
			return
		}
		var given []*Message
		err := q.store.Update(context.Background(), func(tx *Tx) error {
			given = given[:0]
			b := tx.tx.Bucket(bucketHandBack)
			for _, h := range hs {
				d, dmg := tx.givenDamaged(h.id, h.holder, h.sid) // damaged.go; read before its entry goes
				if err := b.Delete(handBackKey(h.holder, h.sid)); err != nil {
					return err
				}
				if dmg {
					if err := tx.dropDamaged(h.id); err != nil {
						return err
					}
					given = append(given, d.asMessage())
					continue
				}
				m, err := tx.Get(h.id)
				if err != nil || m.State != Poison || !sameServer(m.ShadowServer, h.holder) || m.ShadowID != h.sid {
					continue // changed since the line went out: the holder took its copy over all the same
				}
				if err := tx.Delete(m.ID); err != nil {
					return err
				}
				given = append(given, m)
			}
			return nil
		})
		if err != nil {
			q.log.Error("forgetting messages given to their copy's holder failed; they are sent again", "shadow_server", server, "err", err)
			return
		}
		for _, m := range given {
			why := "given to " + server + ", which holds its shadow copy: " + m.LastError
			what := "poison message given to the holder of its shadow copy, which delivers it"
			if m.State == Damaged {
				what = "damaged message record given to the holder of its shadow copy, which delivers it; the record here is removed"
			}
			q.log.Warn(what, "msg_id", m.ID.String(), "shadow_server", server, "reason", m.LastError)
			q.ev.Event("giveback", m, nil, why)
			q.notifyGone(m.ID)
		}
	}
}

// takeCopyGivenTx is the holder's side: the primary gave it the message
// of copy sid (a "<sid> TAKEOVER" line). The recipients that copy holds
// for primary are taken over in tx, as after failed heartbeats but for
// this copy only and never given back. A record in delivery here is
// marked (its results commit applies it, as takeoverTx does).
func (t *Tx) takeCopyGivenTx(primary, sid string, now time.Time) (taken []*Message, marked int, err error) {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	hexID, _, ok := strings.Cut(sid, "-")
	id, perr := ParseID(hexID)
	relay := ok && perr == nil // "<local id>-…": the copy of a message relayed from here
	records := []ID{id}
	if !relay {
		records = t.receiptCopies(primary, sid)
	}
	// The line names no cause: the primary gives a message whose body
	// there is unreadable and one whose record there is damaged alike
	// (damaged.go), and its log says which.
	reason := "it gave the message to this server: its copy there cannot be delivered (its body unreadable or its record damaged)"
	// Taken over under the database stored for it, never given back
	// (takenindex.go): the primary gave the message away.
	under := takenValue(t.peerDatabase(primary), false)
	for _, id := range records {
		m, err := t.Get(id)
		if err != nil {
			continue
		}
		if m.State == Active {
			if err := t.addEarlyTakeover(m.ID, primary, now, under); err != nil {
				return nil, 0, err
			}
			marked++
			continue
		}
		if err := t.renewHanded(m, primary, now); err != nil { // as takeoverTx: takenhanded.go
			return nil, 0, err
		}
		// A copy of a message whose original this server holds: the
		// original's recipients are the original's (twinoriginal.go).
		settled, gone, err := t.settleByOriginalNow(m, primary)
		if err != nil {
			return nil, 0, err
		}
		if gone {
			continue
		}
		var sids []string // the copies taken over, for their index values
		for i := range m.Rcpts {
			r := &m.Rcpts[i]
			if r.Status == Shadowed && (discardSettles(r, primary, sid) || relay && discardSettles(r, primary, m.OrgID)) {
				takeoverRcpt(r, reason)
				if !slices.Contains(sids, r.ShadowID) {
					sids = append(sids, r.ShadowID)
				}
			}
		}
		if len(sids) == 0 {
			if settled {
				if err := t.Put(m); err != nil {
					return nil, 0, err
				}
			}
			continue
		}
		if m.State != Poison && m.State != Suspended {
			m.State, m.NextAttempt = Ready, now
		}
		if err := t.Put(m); err != nil {
			return nil, 0, err
		}
		if err := t.markTaken(primary, m.ID, sids, under); err != nil {
			return nil, 0, err
		}
		taken = append(taken, m)
	}
	return taken, marked, nil
}

// afterCopyGiven tracks and logs the copies a primary gave this server.
func (q *Manager) afterCopyGiven(primary string, taken []*Message) {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	for _, m := range taken {
		q.ev.Event("takeover", m, nil, primary+": it gave the message here (its body there unreadable or its record damaged)")
	}
	if len(taken) > 0 {
		q.log.Warn("copies taken over: their primary gave the messages here, as it cannot deliver them (a body unreadable or a record damaged there; its log names which)",
			"primary", primary, "messages", len(taken))
		q.Kick()
	}
}

// refuseGiven refuses, in tx, an operator's resume of m when m was
// offered to the holder of its copy ("<id> TAKEOVER" sent, not yet
// acknowledged): the holder may have taken the copy over and delivers
// it, so a delivery from here would be a second one. The record goes
// once the holder speaks again.
func (t *Tx) refuseGiven(m *Message) error {
	if m.State != Poison || m.ShadowServer == "" || m.ShadowID == "" {
		return nil
	}
	v := t.tx.Bucket(bucketHandBack).Get(handBackKey(m.ShadowServer, m.ShadowID))
	if len(v) < 17 || v[16] != handBackOffered || ID(binary.BigEndian.Uint64(v[:8])) != m.ID {
		return nil
	}
	return fmt.Errorf("%w: message %s was given to %s, which holds its shadow copy, takes it over and delivers it; "+
		"a delivery from here would be a second one. The record here goes once %s confirms (its next query)",
		ErrNotApplicable, m.ID, m.ShadowServer, m.ShadowServer)
}

// RefuseRemoveDamaged is the refusal of an operator's removal, without
// force, of message m whose body here is unreadable (bodyErr) while a
// shadow copy of it is held by holder: the removal would discard that
// copy, the only sound one, in the same commit.
func RefuseRemoveDamaged(m *Message, holder string, bodyErr error) error {
	return fmt.Errorf("%w: message %s: its body here is unreadable (%v) and %s holds a shadow copy of it; removing it "+
		"discards that copy too, and the message is lost. The attempt that finds the body unreadable holds the message "+
		"as poison and gives it to %s, which delivers it (umbra message retry, or resume when it is poison, makes that "+
		"attempt now); umbra message remove --force removes both",
		ErrSoundCopyElsewhere, m.ID, bodyErr, holder, holder)
}

// ErrSoundCopyElsewhere refuses an operator's removal, without force,
// of a message of this server's own whose only sound copy is the shadow
// copy another server holds (RefuseRemoveDamaged). It is not
// ErrShadowCopy: the message here is not a shadow copy.
var ErrSoundCopyElsewhere = errors.New("the only sound copy of the message is the shadow copy another server holds")
