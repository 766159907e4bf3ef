package queue

import (
	"bytes"
	"encoding/binary"
	"time"
)

// A taken-over copy handed on to another transport server (rt26a).
//
// A copy taken over from primary P by any kind of takeover (its entry in
// the index of taken-over copies names the database id of P it was
// taken over under, takenindex.go; shadow29 item 1: failed heartbeats
// only before)
// may be handed by this server's attempt to another transport server X
// in a shadow session: the recipient is then shadowed here for X (its
// Primary X, its ShadowID the id X will name in its discard), and the
// index entry for P goes with the commit. X delivers it (a mailbox
// database both X and P deliver, say); when P returns with its database
// its original of that recipient is still pending, and without a note
// P delivers it again (a duplicate in a mailbox without the Sieve
// duplicate rule, or at an external destination).
//
// So the commit of the results that hands such a recipient to X, which
// is the commit that drops its index entry, also records in bucket
// takenhanded:
//
//	takenhanded  X ‖ 0x00 ‖ X's shadow id ‖ 0x00 ‖ rcptKey(address) ‖ 0x00 ‖ P's database id
//	             → at (8, BE) ‖ P's database id ‖ 0x00 ‖ P's shadow id ‖ 0x00 ‖ address
//	               ‖ 0x00 ‖ P's name (absent in a note of an older release)
//
// and the commit that applies X's discard of that copy — whole
// (applyDiscardsTx, an XQUERYHELD answer among them), partial
// (applyPartialDiscardTx), or kept aside while the copy was in delivery
// (applyEarlyDiscards) — turns the note into a takendone note under P's
// database id, kind TakenRelayed (takendone.go: P marks the recipient
// done without a DSN, as for a relay out of the organisation; X
// delivered it, relayed it on, or failed it and sent its DSN), and
// forgets it. A recipient taken over here again from X (X failed its
// heartbeats in turn) and finished here is noted for P as well as for X
// (noteTakenDone); handed on again, to Y, its note for P moves to Y's
// copy beside the new one for X (one note per primary's database).
//
// X's discard also comes when X hands the copy on in a shadow session —
// to P itself among others, whose original merges it and carries X's
// copy (carried.go): P's ShadowFinishedElsewhere never settles a
// recipient its original carries for another server's copy, so the
// note costs at worst a duplicate there, never the message.
//
// Not noted: a recipient handed to P itself (P's original merged the
// copy and still owes the recipient) — directly, or after a chain: taken
// back from X and handed to P, its note for P is deleted by that
// hand-on's commit, not moved (the note keeps P's name for that; one of
// an older release, without it, moves: a duplicate at worst) — and one whose copy at X is settled
// otherwise than by X's discard. Each way it can end otherwise:
//
//   - X fails it (its expiry there, a refusal): X sends the DSN and
//     writes its discard — noted as relayed, P sends no second DSN.
//   - The copy kept here for X expires unconfirmed (X's discard never
//     came): taken over and failed here as expired, its DSN from here —
//     noted as failed for P by that commit (noteTakenDone, handedDone).
//     The takeover renews the handed note (renewHanded) and runs before
//     the hour's pruning, which would otherwise drop it with the copy.
//     The same renewal for every takeover from X: failed heartbeats, a
//     new database, a copy X gave here (handback.go), and one kept aside
//     while the copy was in delivery, with the takeover's time
//     (applyEarlyTakeoversBack).
//   - The administrator removes the copy kept here (message remove
//     --force): X is told and makes its copy again elsewhere
//     (droppedcopy.go), under another id; nothing here can learn that X
//     finished the recipient, so P gets no note (it delivers its
//     original: a duplicate at worst, never a recipient skipped that
//     nobody delivered), and the removal's commit deletes the handed
//     note (forgetHanded).
//   - A merge into an original X relayed here (mergeReceiptCopy): the
//     merge's commit deletes the note (dropHandedOf; it stayed until
//     pruned before, X's discard of the copy settling nothing any more);
//     P gets none.
//
// P returning while X still holds the copy pending (X's discard not
// written yet) asks before its next attempt: while the handed note is
// kept, this server lists the recipient to P's database as
// "<id> RCPT=<address> TAKEN" (TakenHandedFor, handed38; nothing stored
// for it) and P marks its original's recipient done without a DSN, as
// for a copy of a restored database's predecessor (takenover.go): X
// delivers it, relays it on or fails it with its DSN, and should X fail
// its heartbeats this server takes X's copy over again (its note moves
// on with it). Not told — a holder or a primary of an older release, a
// holder not reached at P's start, a copy whose note went with the
// administrator's removal here — P delivers its original: a duplicate at
// worst (README, Duplicates after a takeover). P's discard of its own
// copy, which that commit writes, settles nothing here: the recipient is
// kept for X under X's id.
//
// Crash: the handed note is in the commit that hands the recipient on
// (and drops P's index entry); the takendone note in the commit that
// applies X's discard, which deletes the handed note: a crash leaves
// either the handed note (the discard applied again later: X's discard
// is forgotten at X only once this server has it) or the takendone note.

// takenHandedPrefix is the prefix of the notes of recipient addr of the
// copy this server keeps for server (its shadow id id there); each note
// adds 0x00 ‖ the database id of the primary it is for (a copy taken
// back from a server it was handed to, and handed on again, owes both
// primaries a note: noteHanded).
func takenHandedPrefix(server, id, addr string) []byte {
	k := make([]byte, 0, len(server)+len(id)+len(addr)+3)
	k = append(append(append(k, server...), 0), id...)
	return append(append(append(k, 0), rcptKey(addr)...), 0)
}

// handedNote is one takenhanded note: the primary's database id, its
// shadow id and address, its name, the note's time, and its key.
type handedNote struct {
	db, pid, paddr string
	primary        string // the primary's name; "" in a note of an older release
	at, key        []byte
}

// noteHanded records, in the commit of an attempt's results and before
// it writes m (the index entries it reads go with the write), each
// recipient of m taken over (pending in before, taken from a primary
// whose index entry names the database it was taken over under) that the
// attempt handed to another transport server in a shadow session
// (shadowed now for another server than its primary before). old is the
// record as stored (the recipients' primary and shadow id before the
// attempt), read here only when a recipient may need a note. A
// recipient that was itself handed on by this server before, and taken
// back (its server failed its heartbeats), carries the notes it had to
// the new server: the first primary is owed its note as well.
func (t *Tx) noteHanded(m *Message, before []RcptStatus, now time.Time) error {
	b, idx := t.tx.Bucket(bucketTakenHanded), t.tx.Bucket(bucketTakenBy)
	if b == nil || idx == nil {
		return nil
	}
	var old *Message
	for i := range m.Rcpts {
		r := &m.Rcpts[i]
		if i >= len(before) || before[i] != Pending || r.Status != Shadowed || r.Primary == "" || r.ShadowID == "" {
			continue
		}
		if old == nil {
			o, err := t.Get(m.ID)
			if err != nil {
				return nil // not stored: nothing was taken over
			}
			old = o
		}
		if i >= len(old.Rcpts) || old.Rcpts[i].Addr != r.Addr {
			continue
		}
		or := &old.Rcpts[i]
		if !takenOverRcpt(or) {
			continue
		}
		// The notes it carries go with it to the new server's copy —
		// except those for the new server itself: handed back to the
		// first primary of a chain, its original merges the copy and
		// still owes the recipient, and its own discard of that copy
		// must not turn into a note that settles it (not noted). A note
		// written by a release that did not keep the primary's name
		// moves (a duplicate at worst).
		for _, n := range t.handedNotes(or) {
			if n.primary == "" || !sameServer(n.primary, r.Primary) {
				if bytes.Equal(n.key, append(takenHandedPrefix(r.Primary, r.ShadowID, r.Addr), n.db...)) {
					continue // the same copy: the note stays as it is
				}
				if err := t.putHanded(r.Primary, r.ShadowID, r.Addr, n.db, n.pid, n.paddr, n.primary, n.at); err != nil {
					return err
				}
			}
			if err := b.Delete(n.key); err != nil {
				return err
			}
		}
		if sameServer(or.Primary, r.Primary) {
			continue // handed back to the server it was taken from: not noted
		}
		// A copy taken over by any kind of takeover is noted, under
		// the database it was taken over under (takenindex.go).
		db, _ := parseTaken(decodeTaken(idx.Get(takenByKey(or.Primary, m.ID))).of(or.ShadowID))
		if db == "" {
			continue
		}
		var at [8]byte
		binary.BigEndian.PutUint64(at[:], uint64(nanos(now)))
		if err := t.putHanded(r.Primary, r.ShadowID, r.Addr, db, or.ShadowID, or.Addr, or.Primary, at[:]); err != nil {
			return err
		}
	}
	return nil
}

func (t *Tx) putHanded(server, id, addr, db, pid, paddr, primary string, at []byte) error {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	b := t.tx.Bucket(bucketTakenHanded)
	if b == nil || len(at) != 8 {
		return nil
	}
	v := make([]byte, 0, 8+len(db)+len(pid)+len(paddr)+len(primary)+3)
	v = append(append(append(append(append(append(v, at...), db...), 0), pid...), 0), paddr...)
	if primary != "" {
		v = append(append(v, 0), primary...)
	}
	return b.Put(append(takenHandedPrefix(server, id, addr), db...), v)
}

// handedNotes reads the notes of r, a recipient kept here for r.Primary
// under r.ShadowID (or taken over from it): one per primary it was
// taken from before this server handed it on.
func (t *Tx) handedNotes(r *Recipient) []handedNote {
	b := t.tx.Bucket(bucketTakenHanded)
	if b == nil || r.Primary == "" || r.ShadowID == "" {
		return nil
	}
	var out []handedNote
	prefix := takenHandedPrefix(r.Primary, r.ShadowID, r.Addr)
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if len(v) < 8 {
			continue
		}
		f := bytes.SplitN(v[8:], []byte{0}, 4)
		if len(f) < 3 || len(f[0]) == 0 || len(f[1]) == 0 {
			continue
		}
		n := handedNote{db: string(f[0]), pid: string(f[1]), paddr: string(f[2]), at: bytes.Clone(v[:8]), key: bytes.Clone(k)}
		if len(f) == 4 {
			n.primary = string(f[3])
		}
		out = append(out, n)
	}
	return out
}

// handedSettled is called, in the commit that applies it, for r (still
// as it was: shadowed here for r.Primary under r.ShadowID, or taken over
// from it and pending) settled by r.Primary's discard: a recipient this
// server took over from another primary and handed to r.Primary is
// noted for that primary as relayed (takendone.go), and its handed note
// forgotten. The takendone note keeps the handed note's time, which is
// later than the primary's original arrived: pruned with it
// (pruneTakenDone), it outlives that original.
func (t *Tx) handedSettled(r *Recipient) error {
	return t.handedDone(r, TakenRelayed, nil, "")
}

// handedDone turns r's handed notes into takendone notes of kind,
// written at at (nil: each handed note's own time). A note for server
// to (r relayed to that server without a shadow session: its original
// merges the relay and still owes the recipient), or one that does not
// say its primary while to is set, goes without a takendone note.
func (t *Tx) handedDone(r *Recipient, kind byte, at []byte, to string) error {
	b := t.tx.Bucket(bucketTakenDone)
	if b == nil {
		return nil
	}
	for _, n := range t.handedNotes(r) {
		if to != "" && (n.primary == "" || sameServer(n.primary, to)) {
			if err := t.tx.Bucket(bucketTakenHanded).Delete(n.key); err != nil {
				return err
			}
			continue
		}
		ts := n.at
		if at != nil {
			ts = at
		}
		if err := b.Put(takenDoneKey(n.db, n.pid, n.paddr), takenDoneValue(ts, kind, n.paddr)); err != nil {
			return err
		}
		if err := t.tx.Bucket(bucketTakenHanded).Delete(n.key); err != nil {
			return err
		}
	}
	return nil
}

// renewHanded gives the handed notes of m's recipients kept here for
// primary (about to be taken over from it: its failed heartbeats, or the
// copy's expiry unconfirmed) the time now: a recipient taken back from
// the server it was handed to is finished here later — failed as
// expired, at once, when the copy expired unconfirmed — and its handed
// note, turned into the takendone note for the first primary by that
// finish (noteTakenDone), must still be there. Written at the hand-on,
// it would otherwise be pruned with the copy's own expiry
// (pruneTakenDone: message_expiration + shadowExpiryGrace after it was
// written, the age at which the copy kept here expires too), and the
// first primary, back with its database, sent a second failure DSN.
func (t *Tx) renewHanded(m *Message, primary string, now time.Time) error {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	var at [8]byte
	binary.BigEndian.PutUint64(at[:], uint64(nanos(now)))
	for i := range m.Rcpts {
		r := &m.Rcpts[i]
		if r.Status != Shadowed || r.Primary != primary {
			continue
		}
		for _, n := range t.handedNotes(r) {
			if err := t.putHanded(r.Primary, r.ShadowID, r.Addr, n.db, n.pid, n.paddr, n.primary, at[:]); err != nil {
				return err
			}
		}
	}
	return nil
}

// dropHandedOf deletes the handed notes of r, a recipient kept here for
// another server whose copy is settled otherwise than by that server's
// discard (a merge into an original it relayed here: nexthopcopy.go).
func (t *Tx) dropHandedOf(r *Recipient) error {
	b := t.tx.Bucket(bucketTakenHanded)
	if b == nil {
		return nil
	}
	for _, n := range t.handedNotes(r) {
		if err := b.Delete(n.key); err != nil {
			return err
		}
	}
	return nil
}

// forgetHanded deletes the handed notes of m's recipients kept here for
// another server, in the commit that removes m otherwise than by that
// server's discard (the administrator's removal): no discard of that
// copy settles anything here any more — the server, told of the removal
// (droppedcopy.go), makes its copy again under another id — so nothing
// will say that server finished the recipient, and the first primary
// gets no note: it delivers its original (a duplicate at worst; never a
// note for a recipient nobody may have delivered).
func (t *Tx) forgetHanded(m *Message) error {
	b := t.tx.Bucket(bucketTakenHanded)
	if b == nil {
		return nil
	}
	for i := range m.Rcpts {
		r := &m.Rcpts[i]
		if r.Status != Shadowed {
			continue
		}
		for _, n := range t.handedNotes(r) {
			if err := b.Delete(n.key); err != nil {
				return err
			}
		}
	}
	return nil
}

// TakenHandedFor lists, for the primary that presented database dbID, up
// to max recipients of its copies taken over here and handed on to
// another transport server in a shadow session that this server has not
// heard that server finish (a handed note still kept): "<id> RCPT=<address>
// TAKEN", the primary's shadow id and address (shadow verbs 22 reads it;
// package smtp lists it after the BUSY lines). That server's copy is
// shadowed here: it delivers the recipient, relays it on, or fails it
// and sends its DSN, and should it fail its heartbeats this server takes
// it over again — the primary's original of that recipient must not go
// out too (handed22: the duplicate of "Duplicates after a takeover").
// The primary marks it done without a DSN (ShadowFinishedElsewhere).
// Each note ends when its recipient's copy ends here (handedDone,
// handedSettled, forgetHanded, dropHandedOf, the pruning): a copy
// removed here by the administrator, or merged into an original that
// server relayed here, is no longer listed, and the primary, asking
// again, delivers its original if it has not marked it done yet.
func (q *Manager) TakenHandedFor(dbID string, max int) []TakenDone {
	if dbID == "" || max <= 0 {
		return nil
	}
	var out []TakenDone
	seen := map[string]bool{}
	_ = q.store.View(func(tx *Tx) error {
		b := tx.tx.Bucket(bucketTakenHanded)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.First(); k != nil && len(out) < max; k, v = c.Next() {
			if len(v) < 8 {
				continue
			}
			f := bytes.SplitN(v[8:], []byte{0}, 4)
			if len(f) < 3 || string(f[0]) != dbID || len(f[1]) == 0 || len(f[2]) == 0 {
				continue
			}
			key := string(f[1]) + " " + string(f[2])
			if seen[key] {
				continue // one recipient handed on twice (a chain): one line
			}
			seen[key] = true
			out = append(out, TakenDone{ID: string(f[1]), Addr: string(f[2]), Kind: TakenOver})
		}
		return nil
	})
	return out
}
