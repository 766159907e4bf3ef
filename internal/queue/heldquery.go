package queue

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"time"
)

// Reconciling stranded shadow copies (SPEC SR-15, README "Discard
// notifications"). A discard notification can still go missing — a bug,
// a notification pruned because its shadow server did not fetch it
// within message_expiration — and its copy would then stay until it
// expires and is taken over, a second delivery of a message delivered
// long ago. So a shadow server asks each primary, now and then, about
// the copies it has held for a long time (XQUERYHELD, shadow verbs
// version 4), and the primary answers which of them it is done with.
//
// The primary's rule: it still needs the copy named id of shadow server
// S exactly while it holds a record with ShadowServer S and ShadowID id
// that has a recipient not done (Pending), or a record set aside as
// damaged names it (or could: its head does not decode, and nothing is
// answered done meanwhile); the commit that finishes a
// message's last recipient is the commit that prepares its discard
// notification (results.go; a failure DSN that carries the discard has
// recipients of its own pending until it leaves, so it answers "held"
// too), and is not held by the operator (a hold writes the copy's
// discard: hold.go) nor moved to the poison queue by a commit that
// discarded its copy (settlePoisonCopy; a poison message whose body here
// does not read whole keeps its copy, the sound one, and is held). A record that leaves the database leaves in such a commit, or
// with the whole database — and a new database presents a new database
// id, which takes the copies over (SR-7) instead. So an id with no such
// record — delivered, relayed, failed, deleted by an operator, or never
// committed here (a copy on receipt pushed before a commit that then
// failed) — is one the primary is done with. The shadow server applies
// the answer only as it applies a discard notification: in a session
// whose XSHADOW database id it compared first, and only to copies older
// than HeldQueryAge, so that a copy on receipt whose primary has not
// committed its message yet is never asked about; and to the copies
// still held only (ShadowHeldDone): one taken over since it was listed
// — by a new database id, or by a rollback mark in the same session's
// XSHADOW reply, which keeps the database id while the rolled-back file
// answers "done" for every copy made after it — or in delivery here is
// left as it is.

// HeldQueryAge is how old a shadow copy must be before its shadow
// server asks its primary about it: far beyond the time between a push
// on receipt and the primary's commit of the message (one command
// timeout), and short against message_expiration.
const HeldQueryAge = time.Hour

// heldScanChunk is how many records one read transaction of ShadowHeld
// reads: a long read transaction would hold back the growth of the
// database file for the writers.
var heldScanChunk = 5000

// ShadowHeld answers XQUERYHELD for shadow server server: of ids (shadow
// message ids of its copies), those this server is done with — no
// record holds one of them with a recipient still pending, no original
// carries it (carried.go), and no
// record set aside as damaged names it (none at all while one whose
// head cannot be read is set aside). It reads
// every message record once, heldScanChunk records per read
// transaction, so shadow servers ask rarely and in batches. Between
// chunks a record can only finish (it was seen held: the answer stays
// "held", the safe side) or be added after the ones read (ids grow).
func (q *Manager) ShadowHeld(server string, ids []string) (done []string, err error) {
	asked := make(map[string]bool, len(ids))
	for _, id := range ids {
		asked[id] = true
	}
	held := map[string]bool{}
	// The names its copies' records may give it: a record made while the
	// topology misspelt it names the alias its database was met as
	// (holdernames.go), and still needs the copy.
	var names []string
	holder := map[string]bool{}
	if err := q.store.View(func(tx *Tx) error {
		names = tx.holderNamesAllTx(server)
		for _, n := range names {
			holder[serverKey(n)] = true
		}
		return nil
	}); err != nil {
		return nil, err
	}
	var from []byte // the key to start after
	for more := true; more; {
		err = q.store.View(func(tx *Tx) error {
			c := tx.messages.Cursor()
			k, v := c.First()
			if from != nil {
				if k, v = c.Seek(from); k != nil && bytes.Equal(k, from) {
					k, v = c.Next()
				}
			}
			n := 0
			for ; k != nil && n < heldScanChunk; k, v = c.Next() {
				n++
				m, err := decodeMessage(v)
				if err != nil {
					return err // an unreadable record could be one of them: answer nothing
				}
				if holder[serverKey(m.ShadowServer)] && asked[m.ShadowID] && len(m.Pending()) > 0 && !heldCopySettled(m) { // a hold, or the move to the poison queue, settled its copy (hold.go)
					held[m.ShadowID] = true
				}
				from = append(from[:0], k...)
			}
			more = k != nil
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	// A record set aside as damaged (damaged.go) still needs the copy
	// its head names; one whose head does not decode could need any of
	// them: then nothing is answered done, as for a record that did not
	// decode before records were set aside (rt49 F1).
	unknown := false
	err = q.store.View(func(tx *Tx) error {
		for _, id := range ids {
			for _, n := range names {
				if tx.carriedElsewhere(0, n, id) { // an original here carries it (carried.go)
					held[id] = true
				}
			}
		}
		for _, d := range tx.DamagedRecords() {
			h, ok := tx.damagedHeadOf(d.ID, d.Raw) // the holder the fold named, if any (damaged.go)
			switch {
			case !ok:
				unknown = true
			case holder[serverKey(h.ShadowServer)] && asked[h.ShadowID]:
				held[h.ShadowID] = true
			}
		}
		return nil
	})
	if err != nil || unknown {
		return nil, err
	}
	for _, id := range ids {
		if !held[id] {
			done = append(done, id)
		}
	}
	return done, nil
}

// ShadowCopiesHeld lists, for a question to primary, the shadow ids of
// copies held for it that arrived before olderThan, in id order after
// the message after, at most max ids; next is where the following
// question starts (0: the list was read to its end).
func (q *Manager) ShadowCopiesHeld(primary string, olderThan time.Time, after ID, max int) (ids []string, next ID, err error) {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	err = q.store.View(func(tx *Tx) error {
		ids, next = nil, 0
		seen := map[string]bool{}
		restored := tx.restoredUpTo()
		tx.walkQueue("shadow:"+primary, after+1, func(id ID, st State, known bool) bool {
			if len(ids) >= max {
				next = id - 1
				return false
			}
			if known && st != Shadow {
				return true
			}
			m, err := tx.Get(id)
			if err != nil || m.State != Shadow || !m.Arrived.Before(olderThan) && id > restored {
				return true
			}
			for _, r := range m.Rcpts {
				if r.Status == Shadowed && r.Primary == primary && r.ShadowID != "" && !seen[r.ShadowID] {
					seen[r.ShadowID] = true
					ids = append(ids, r.ShadowID)
				}
			}
			return true
		})
		return nil
	})
	return ids, next, err
}

// Restored copies. `umbra db restore` of a shadow server brings back
// the copies the backup held, also those whose discard notifications it
// applied after the backup: the primary forgot those notifications once
// this server had them, so none comes again, and each such copy would
// wait, looking healthy, for the next failure of its primary to be
// taken over and delivered a second time. The Open that takes a
// backup's mark (store.go) records the last message id the backup holds
// (meta restored_upto); every shadow copy up to it is asked about
// (ShadowCopiesHeld) whatever its age — at the first reconciliation
// after the start, which a healthy primary gets at once — and, while
// any such copy younger than HeldQueryAge is held
// (RestoredCopiesWaiting), the shadow manager asks batch after batch
// instead of one batch per reconcileEvery. The age rule guards a copy
// pushed on receipt whose primary has not committed yet; a restored
// copy was pushed before the backup, and by the time the restored
// server runs its primary has committed the message or answered the
// sender with a failure. A primary that cannot be asked — down, taken
// over, failing heartbeats, refusing, of a release before XQUERYHELD —
// keeps the rule for the copies it cannot confirm: they wait, and are
// taken over when its heartbeats fail (a loss is worse than a
// duplicate): the duplicates a restore can make (README, Backup and
// restore). Nothing else brings a database back in time: a compaction
// copies the file as it is, and a file copied back by other means than
// db restore carries no mark — its copies are asked about only after
// an hour, as any copy (README says to restore with db restore).

// restoredUpTo is the last message id a restore brought back (0: none).
func (t *Tx) restoredUpTo() ID {
	if v := t.tx.Bucket(bucketMeta).Get(keyRestoredUpTo); len(v) == 8 {
		return ID(binary.BigEndian.Uint64(v))
	}
	return 0
}

// RestoredCopiesWaiting reports whether this server holds, for
// primary, a shadow copy a restore brought back that the age rule alone
// would not have asked about yet (younger than HeldQueryAge).
// Only the index entries up to the restore's mark are read. With none
// for any primary, the mark goes (endRestored) before it returns.
func (q *Manager) RestoredCopiesWaiting(primary string) bool {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	found, end := q.RestoredCopiesAsk(primary)
	if end != nil {
		end()
	}
	return found
}

// RestoredCopiesAsk is RestoredCopiesWaiting for a caller under a lock
// of its own (the shadow manager's step): it only reads the store, and
// end, when not nil, drops the restore's mark — a commit, which may walk
// every shadow queue's index once per mark — for the caller to call
// after letting its lock go.
func (q *Manager) RestoredCopiesAsk(primary string) (found bool, end func()) {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	cutoff := q.clk.Now().Add(-HeldQueryAge)
	var restored ID
	_ = q.store.View(func(tx *Tx) error {
		found, restored = false, tx.restoredUpTo()
		if restored == 0 {
			return nil
		}
		tx.walkQueue("shadow:"+primary, 0, func(id ID, st State, known bool) bool {
			if id > restored {
				return false
			}
			if known && st != Shadow {
				return true
			}
			if m, err := tx.Get(id); err == nil && m.State == Shadow && !m.Arrived.Before(cutoff) {
				found = true
				return false
			}
			return true
		})
		return nil
	})
	if restored != 0 && !found {
		return false, func() { q.endRestored(restored, cutoff) }
	}
	return found, nil
}

// endRestored drops the restore's mark (meta restored_upto) once no
// copy it brought back, of any primary, arrived after cutoff: every one
// left is old enough for the age rule, which lists it all the same, and
// the shadow queues are not read for the mark again. The latest arrival
// among those copies is read once per mark (a walk of the shadow queues'
// index up to it) and kept: no copy is stored under an id up to the mark
// after the open (ids only grow), so it can only fall.
func (q *Manager) endRestored(restored ID, cutoff time.Time) {
	q.restoredMu.Lock()
	defer q.restoredMu.Unlock()
	if q.restoredFor != restored {
		var latest time.Time
		if err := q.store.View(func(tx *Tx) error {
			latest = time.Time{}
			prefix := []byte("shadow:")
			walkQueueIndex(tx.qidx, prefix, prefix, func(_ string, id ID, st State, known bool) bool {
				if id > restored || known && st != Shadow {
					return true
				}
				if m, err := tx.Get(id); err == nil && m.State == Shadow && m.Arrived.After(latest) {
					latest = m.Arrived
				}
				return true
			})
			return nil
		}); err != nil {
			return
		}
		q.restoredFor, q.restoredLatest = restored, latest
	}
	if !q.restoredLatest.Before(cutoff) {
		return // a young one may be left
	}
	if err := q.store.Update(context.Background(), func(tx *Tx) error {
		if tx.restoredUpTo() != restored {
			return nil
		}
		return tx.tx.Bucket(bucketMeta).Delete(keyRestoredUpTo)
	}); err != nil && !errors.Is(err, ErrClosed) {
		q.log.Error("dropping the mark of a restore with no restored copy left to ask about early failed; asked again later", "err", err)
	}
}

// ShadowCopiesToAsk is ShadowCopiesHeld for copies older than
// HeldQueryAge now, and those a restore brought back.
func (q *Manager) ShadowCopiesToAsk(primary string, after ID, max int) ([]string, ID, error) {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	return q.ShadowCopiesHeld(primary, q.clk.Now().Add(-HeldQueryAge), after, max)
}
