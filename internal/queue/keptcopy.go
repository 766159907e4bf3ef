package queue

import (
	"bytes"
	"context"
	"encoding/binary"
	"strings"
	"time"
)

// Copies kept on a holder whose database file was rolled back (shadow
// verbs version 23, package smtp: XQUERYKEPT; life F3 of an outside
// check). The operator of a shadow server who stops it and copies back
// an older queue.db — a file copy, not umbra db restore — starts it on
// a database with the same id and no rollback mark (marks.go: only the
// Open of a restored backup takes one): it lost every copy it
// acknowledged after that file was taken, and nothing told its
// primaries, whose records still name it the holder. A later loss of
// the primary lost those messages.
//
// So the primary's holder probe (package delivery, askKept) lists the
// copy ids of its pending records that name the holder
// (ShadowCopiesNamed) and asks it which of them it has no record of
// (ShadowKeptMissing, the holder's side: a copy held, taken over, in
// delivery or finished after a takeover and not yet told — any record
// or taken-done note of that primary and id — is kept). One answer is
// not enough: a copy can be on its way there (a copy made again, or a
// relayed message's copy the holder commits after the primary's 250,
// bounded by the copier's try of 10 s), so the primary notes, per
// holder and copy id, when an answer first said it missing:
//
//	keptmissing holder (serverKey) ‖ 0x00 ‖ copy id → first missing (8, BE unix nanoseconds)
//
// (ShadowKeptAnswer). An answer that says the copy is kept deletes the
// note; one that says it missing again at least apart after the note
// (the probe's interval, at least the copier's bound) marks every
// message still pending here whose copy was that one on the holder as
// held by this server only — how: HowRolledBack, shown by shadow list,
// message show and queue views — and deletes the note, in the commit
// that reads that answer, as ShadowCopiesDropped marks a copy the
// holder's operator removed. The same probe pass makes the copies
// again (Recopy). A note whose copy no record names on its holder any
// more (its message finished, or marked already) is deleted by the next
// answer about any holder.
//
// Under kill -9: the notes and the marks are written in one commit per
// answer. Killed before it, nothing of that answer is kept: the next
// probe asks again and its answer counts as the first (a delay of one
// probe interval, nothing lost that was not already). Killed after it,
// the notes and marks stand; the marked messages are made again by the
// pass after the start, as any mark. The holder writes nothing for the
// question. A holder below version 23 is never asked: a copy its
// rolled-back file lost stays counted as kept there, as before.

// HowRolledBack: the copy was missing, in two answers a probe interval
// apart, on a holder that still presents the database id it was made
// against (its database file copied back from an older copy).
const HowRolledBack = "rolled back"

func keptMissingPrefix(server string) []byte {
	return append([]byte(serverKey(server)), 0)
}

func keptMissingKey(server, sid string) []byte {
	return append(keptMissingPrefix(server), sid...)
}

// keptScanChunk bounds the records one read transaction of
// ShadowCopiesNamed reads.
var keptScanChunk = 5000

// ShadowCopiesNamed lists, for a question to shadow server server, the
// copy ids of the messages pending here whose record names it (or an
// alias of its database) the holder of their copy and that are not
// marked held by this server only — nor waiting to apply what the
// holder finished of its copy after a takeover (takendonewait.go) —,
// in id order after the message after,
// at most max ids and at most keptScanChunk records read; next is where
// the following question starts (0: the records were read to their
// end).
func (q *Manager) ShadowCopiesNamed(server string, after ID, max int) (ids []string, next ID, err error) {
	err = q.store.View(func(tx *Tx) error {
		ids, next = nil, 0
		aliases := tx.holderAliasesTx(server)
		seen := map[string]bool{}
		wait := tx.tx.Bucket(bucketTakenDoneWait)
		// waiting: the holder finished recipients of the copy after a
		// takeover and told them; they wait here for the attempt in
		// flight (takendonewait.go), and the holder may have forgotten
		// the copy: not asked until they are applied.
		waiting := func(sid string) bool {
			if wait == nil {
				return false
			}
			prefix := append(append(append([]byte(serverKey(server)), 0), sid...), 0)
			k, _ := wait.Cursor().Seek(prefix)
			return k != nil && bytes.HasPrefix(k, prefix)
		}
		c := tx.messages.Cursor()
		k, v := c.Seek((after + 1).Key())
		for n := 0; k != nil; k, v = c.Next() {
			if n >= keptScanChunk || len(ids) >= max {
				next = ID(beUint64(k)) - 1
				return nil
			}
			n++
			m, err := decodeMessage(v)
			if err != nil || m.ShadowID == "" || seen[m.ShadowID] || !holdsCopyOnAny(m, server, aliases) || tx.markedSingle(m.ID) || waiting(m.ShadowID) {
				continue
			}
			seen[m.ShadowID] = true
			ids = append(ids, m.ShadowID)
		}
		return nil
	})
	return ids, next, err
}

// ShadowKeptMissing answers XQUERYKEPT for primary, whose session
// presented the database id presented (the holder's side):
// of ids, those of primary's copies this server has no record of — no
// record has a recipient of primary under that id (shadowed, taken over
// and pending, or finished and still stored), no recipient relayed
// under that id was folded into the record of its copy on receipt
// (foldedrelay, receiptcopy.go), no note of a recipient finished
// after a takeover waits to be told (takendone.go), and none of a
// recipient taken over from primary and handed on to another server
// waits for that server's discard (takenhanded.go).
//
// primary's copies are those filed under any name whose record here
// keeps primary's transport database id (namesOfPrimaryDB): a primary
// renamed in the topology while its own configuration still states the
// old name (its reload refused) runs the same database, and the copies
// relayed to it after the rename are filed under the new name. Answered
// missing, the primary took its holder for a rolled-back one and marked
// every such message held by it only (sites47 F1).
func (q *Manager) ShadowKeptMissing(primary, presented string, ids []string) (missing []string, err error) {
	err = q.store.View(func(tx *Tx) error {
		missing = nil
		// An asker that presented no database (its XSHADOW without DB=)
		// is taken for the database its record here keeps: the answer
		// only says which of the copies its own records name are kept,
		// and a name of its database that held one answered missing
		// had the primary mark it rolled back and copy it again — a
		// second copy, delivered twice after a takeover (receipt48
		// item 5). Notes are told and forgotten only for a presented
		// database (DroppedCopies, TakenDoneFor).
		db := presented
		if db == "" {
			if p, err := tx.Peer(primary); err == nil && p != nil {
				db = p.DatabaseID
			}
		}
		names := tx.namesOfPrimaryDB(primary, db)
		kept := map[string]bool{}
		for _, sid := range ids {
			if tx.keptHere(names, sid) {
				kept[sid] = true
			}
		}
		if fb := tx.tx.Bucket(bucketFolded); fb != nil && len(kept) < len(ids) {
			// A relayed copy folded into the record of its copy on
			// receipt (receiptcopy.go) is kept under the org id; the
			// relay id its recipients were filed under is the entry's
			// value (8 bytes of time, 0x00 in this release's form).
			for name := range names {
				prefix := append([]byte(name), 0)
				c := fb.Cursor()
				for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
					if len(v) > 8 {
						kept[strings.TrimPrefix(string(v[8:]), "\x00")] = true
					}
				}
			}
		}
		if td := tx.tx.Bucket(bucketTakenDone); td != nil && len(kept) < len(ids) {
			// database id ‖ 0x00 ‖ shadow id ‖ 0x00 ‖ …: a walk, in a
			// read transaction; the notes live until told. A note is the
			// asker's when the database it was made under is one the
			// index keeps for one of its names: another primary's note
			// of the same shadow id (a local id "<id>-…" is unique only
			// per primary) answered kept a copy this one lost (receipt48
			// item 5). A database the index keeps for no name (written
			// before it) counts for any, as before.
			ofAsker := map[string]bool{}
			_ = td.ForEach(func(k, _ []byte) error {
				parts := bytes.SplitN(k, []byte{0}, 3)
				if len(parts) != 3 {
					return nil
				}
				dbID := string(parts[0])
				mine, seen := ofAsker[dbID]
				if !seen {
					owned := false
					mine = false
					tx.peerDBOwners(dbID, func(owner, _ string) bool {
						owned = true
						if names[serverKey(owner)] {
							mine = true
							return false
						}
						return true
					})
					mine = mine || !owned
					ofAsker[dbID] = mine
				}
				if mine {
					kept[string(parts[1])] = true
				}
				return nil
			})
		}
		if th := tx.tx.Bucket(bucketTakenHanded); th != nil && len(kept) < len(ids) {
			// A copy taken over from primary and handed on to another
			// server in a shadow session (takenhanded.go) is kept here
			// for that server under its id until its discard turns the
			// note into a takendone note: accounted for, not lost —
			// answered missing, the primary would copy it again and a
			// later loss of the primary would have it delivered by the
			// new copy's holder as well as by that server. A note of
			// an older release names no primary: counted for any.
			_ = th.ForEach(func(_, v []byte) error {
				if len(v) < 8 {
					return nil
				}
				f := bytes.SplitN(v[8:], []byte{0}, 4)
				if len(f) < 3 || len(f[1]) == 0 {
					return nil
				}
				if len(f) == 4 && len(f[3]) > 0 && !names[serverKey(string(f[3]))] {
					return nil // another primary's copy
				}
				kept[string(f[1])] = true
				return nil
			})
		}
		for _, sid := range ids {
			if !kept[sid] {
				missing = append(missing, sid)
			}
		}
		return nil
	})
	return missing, err
}

// namesOfPrimaryDB returns the names (serverKey) a primary's copies may
// be filed under here: primary's own, and every other name whose record
// (shadowpeers) keeps the same transport database id as primary's — one
// database, so one server whatever it is called (an id is a secret of
// the transport servers; a session presenting another's is refused,
// databaseOfAnotherTx). Without a record of primary's database, its own
// name only: a name never speaks for another's copies by itself. Nor
// unless the asker presented (presented: its session's XSHADOW DB=) the
// database primary's record keeps: a server presenting the name with
// another database (its disk lost, another server given the name) before
// its record learns the new id is not the server the other names' copies
// were made for — told of their removed copies, its acknowledgement
// would forget notes the server running that database never heard.
func (t *Tx) namesOfPrimaryDB(primary, presented string) map[string]bool {
	names := map[string]bool{serverKey(primary): true}
	p, err := t.Peer(primary)
	if err != nil || p == nil || p.DatabaseID == "" || p.DatabaseID != presented {
		return names
	}
	t.peerDBOwners(p.DatabaseID, func(other, _ string) bool {
		if o, err := t.Peer(other); err == nil && o != nil && o.DatabaseID == p.DatabaseID {
			names[serverKey(other)] = true
		}
		return true
	})
	return names
}

// keptHere reports whether a record here keeps the copy sid of the
// primary known here by names (namesOfPrimaryDB): a relayed message's
// copy is named by the local id of the record ("<id>-…"), a copy on
// receipt by its org id (receiptcopy.go); any recipient of one of names
// under sid, whatever its status, counts.
func (t *Tx) keptHere(names map[string]bool, sid string) bool {
	var recs []*Message
	if hexID, _, ok := strings.Cut(sid, "-"); ok {
		if id, err := ParseID(hexID); err == nil {
			if m, err := t.Get(id); err == nil {
				recs = append(recs, m)
			}
		}
	}
	for _, id := range t.ByOrgID(sid) {
		if m, err := t.Get(id); err == nil {
			recs = append(recs, m)
		}
	}
	for _, m := range recs {
		for _, r := range m.Rcpts {
			if r.ShadowID == sid && r.Primary != "" && names[serverKey(r.Primary)] {
				return true
			}
		}
	}
	return false
}

// ShadowKeptAnswer records server's answer to XQUERYKEPT (askKept):
// asked the ids asked, missing those it has no record of. A missing id
// first noted at least apart ago marks its messages held by this server
// only (HowRolledBack); a missing id not noted is noted now; an id
// answered kept loses its note. All in one commit. It returns the
// messages marked.
func (q *Manager) ShadowKeptAnswer(server string, asked, missing []string, apart time.Duration) ([]*Message, error) {
	if server == "" || len(asked) == 0 {
		return nil, nil
	}
	gone := make(map[string]bool, len(missing))
	for _, id := range missing {
		gone[id] = true
	}
	now := q.clk.Now()
	var marked, pushCut []*Message
	err := q.store.Update(context.Background(), func(tx *Tx) error {
		marked, pushCut = marked[:0], pushCut[:0]
		b := tx.tx.Bucket(bucketKeptMissing)
		if b == nil {
			if len(missing) == 0 && tx.tx.Bucket(bucketPushAsked) == nil {
				return nil // nothing noted, nothing to note, no push asked of
			}
			var err error
			if b, err = tx.tx.CreateBucketIfNotExists(bucketKeptMissing); err != nil {
				return err
			}
		}
		namedOn := func(holder, sid string) []*Message {
			aliases := tx.holderAliasesTx(holder)
			var out []*Message
			for _, m := range tx.byShadowID(sid) {
				if holdsCopyOnAny(m, holder, aliases) && !tx.markedSingle(m.ID) {
					out = append(out, m)
				}
			}
			return out
		}
		named := func(sid string) []*Message { return namedOn(server, sid) }
		var v [8]byte
		binary.BigEndian.PutUint64(v[:], uint64(nanos(now)))
		for _, sid := range asked {
			// A push on receipt a restart found no outcome of
			// (pushcrash.go): this answer is its outcome.
			for _, m := range named(sid) {
				cut, err := tx.pushCutAnswer(m, server, gone[sid], now)
				if err != nil {
					return err
				}
				if cut {
					pushCut = append(pushCut, m)
				}
			}
			k := keptMissingKey(server, sid)
			if !gone[sid] {
				if b.Get(k) != nil {
					if err := b.Delete(k); err != nil {
						return err
					}
				}
				continue
			}
			first := b.Get(k)
			if len(first) != 8 {
				if err := b.Put(k, v[:]); err != nil {
					return err
				}
				continue
			}
			if now.Sub(time.Unix(0, int64(binary.BigEndian.Uint64(first)))) < apart {
				continue // one answer, or two too close: a copy may be on its way
			}
			for _, m := range named(sid) {
				if err := tx.markSingleHow(m.ID, server, HowRolledBack, now); err != nil {
					return err
				}
				marked = append(marked, m)
			}
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		// Notes whose copy no record names on their holder any more
		// (its message finished or marked, or the holder's name
		// spelt anew): every holder's, a few entries at most.
		var stale [][]byte
		_ = b.ForEach(func(k, _ []byte) error {
			holder, sid, ok := bytes.Cut(k, []byte{0})
			if !ok || len(namedOn(string(holder), string(sid))) == 0 {
				stale = append(stale, bytes.Clone(k))
			}
			return nil
		})
		for _, k := range stale {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(pushCut) > 0 {
		q.log.Warn("messages held by this server only: the stop cut their copy on receipt short; they are copied again",
			"shadow_server", server, "messages", len(pushCut))
	}
	for _, m := range marked {
		q.log.Warn("shadow copy missing on its holder, whose transport database was rolled back (a file copied back): the message is held by this server only until its copy is made again",
			"msg_id", m.ID.String(), "shadow_server", server)
	}
	return marked, nil
}

// followClockStepKept moves, by a step of the wall clock, the times the
// keptmissing notes say an answer first said a copy missing, as
// followClockStep moves the messages' times: the second answer must be
// apart from the first in real time. Not moved, a step forward made the
// next missing answer — a copy on its way, one probe later — mark the
// message at once, and a step back kept a copy its holder lost counted
// as kept for the step's length. A note moved to after now (a step back
// beyond it) is now. One batch per transaction, from the key after the
// last moved: a crash in between leaves some notes moved and the others
// not, each off by at most the step, as all were before.
func (q *Manager) followClockStepKept(step time.Duration) {
	var from []byte
	for rounds := 0; rounds < 1<<20; rounds++ {
		n := 0
		err := q.store.Update(context.Background(), func(tx *Tx) error {
			b := tx.tx.Bucket(bucketKeptMissing)
			if b == nil {
				return nil
			}
			now := q.clk.Now()
			c := b.Cursor()
			k, v := c.First()
			if from != nil {
				if k, v = c.Seek(from); k != nil && bytes.Equal(k, from) {
					k, v = c.Next()
				}
			}
			type moved struct{ k, v []byte }
			var batch []moved
			for ; k != nil && len(batch) < clockStepBatch; k, v = c.Next() {
				if len(v) != 8 {
					continue // not a time: the next answer notes it again
				}
				at := time.Unix(0, int64(binary.BigEndian.Uint64(v))).Add(step)
				if at.After(now) {
					at = now
				}
				var nv [8]byte
				binary.BigEndian.PutUint64(nv[:], uint64(nanos(at)))
				batch = append(batch, moved{bytes.Clone(k), nv[:]})
			}
			for _, m := range batch {
				if err := b.Put(m.k, m.v); err != nil {
					return err
				}
				from = m.k
			}
			n = len(batch)
			return nil
		})
		if err != nil {
			q.log.Error("moving the shadow copies' missing notes after a clock step failed", "err", err)
			return
		}
		if n < clockStepBatch {
			return
		}
	}
}
