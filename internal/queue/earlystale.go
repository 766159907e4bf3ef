package queue

import (
	"encoding/binary"
	"time"
)

// Early discards and copies pushed after them (rt19f F1's other side). A
// primary's discard of a copy on receipt this server does not hold yet is
// kept in bucket early (receiptcopy.go, partialdiscard.go) so that the
// push it was for, still on its way — a push the primary abandoned at its
// bound while this server hung, stored when it runs again — is not kept.
// But the push may never be stored (the session broke before the body's
// end, the commit failed, the copy was refused), and the same org id can
// come again from the same primary: a copy made again after the server
// the primary named instead was lost, or the copy of a second record of
// it. Taken by that later push, the stale discard would have it answered
// "Shadow copy already discarded" and not kept: the primary reads a 250,
// names this server, and believes in a copy that does not exist — losing
// the primary would then lose the acknowledged message.
//
// So an early discard records the rollback mark it was made under — the
// one presented with it (DiscardMark: the MARK= of the XQUERYDISCARD
// reply that listed it, or of the XSHADOW of the session that pushed it
// with XDISCARD; with the database id it is of) — and applies to a copy
// only when that copy's own mark (XSHADOWMARK=: the value the primary's
// commit of it raised its counter to) is not above it:
//
//   - The push the discard was for: its commit at the primary came before
//     the push began, the discard after the push was abandoned, and the
//     mark presented with the discard (the XQUERYDISCARD reply's, read
//     there when the query came — after the session's copies were
//     committed, in the read transaction that lists the discards: a
//     copy committed after the listing is above it, rrearlymark40, and
//     the copy of a discard listed is not, sr1749 — and stored here
//     before the commit that keeps them) after that. Its mark is at most
//     the one recorded: not kept, as before.
//   - A copy whose commit at the primary came after the mark presented
//     with the discard was read there: its mark is higher. The discard
//     is stale: it is forgotten in the commit that keeps the copy, and
//     the copy is kept. Not the mark stored here when the discard is
//     committed (earlymark40): a copy of another session, committed at
//     the primary after the discard's mark was read, may have raised it
//     meanwhile, and a copy of the same org id committed between the two
//     met the discard and was not kept — answered 250, the primary
//     naming this server, lost with the primary.
//   - A discard handed again (the primary lists it until a session
//     acknowledges it) under a later reply's mark keeps the lower one of
//     the same database (AddEarlyDiscard): the discard was made before
//     its first listing.
//
// A copy's mark is its own commit's: pushed alone, its XSHADOWMARK=; in a
// batch, the mark its record states (ShadowCopy.Mark, shadow verbs 24).
// The batch's XSHADOWMARK= is its latest copy's: taken for each copy, a
// copy committed before its discard, batched with one committed after
// the discard was read, was placed after the discard and kept — held
// for good while the primary owed it nothing, delivered again when the
// primary was lost (rt39 F1). From a primary below 24 only the batch's
// mark is known, and that case stays open (README).
//
// A copy of another database id of the primary (it lost its database:
// SR-7) is a new one as well — also when the discard or the copy came
// without a mark (a primary of shadow verbs 10 presents its database id
// without one): the database ids alone tell them apart. Otherwise a copy
// without a mark, or a discard kept with none (a peer below shadow verb
// version 7, or an entry of an earlier release), cannot be placed: the
// discard applies, as it always did; a discard presented without a mark
// (a peer below 7; XDISCARD from a primary whose shadow redundancy is
// off, which makes no copies and presents no mark) is kept under the
// mark stored for the primary, as before; an answer to XQUERYHELD keeps
// none. An umbra primary reads the mark it presents with discards in
// the read transaction that lists them (markedlisting.go: the
// XQUERYDISCARD reply's MARK=, and for XDISCARD an XSHADOW presenting
// it again when it rose since the session opened), so the copy of every
// discard listed is not above it (sr1749: read apart before the
// listing, a copy committed between the two and delivered at once was
// kept here as a new one, settled by no discard). What remains open: a
// primary of an earlier release, whose mark may be older than a discard
// it lists or pushes — the abandoned push may then be kept, a copy the
// primary no longer names (a duplicate if the primary is lost, asked
// about after an hour otherwise), never a copy lost. Every copy kept
// over a discard judged stale is logged, its "shadow" event says so,
// and it is counted (staleearly.go), so that such a copy can be found.

// takeEarlyForPush reports whether the early discard kept under id for
// primary applies to a copy pushed now with mark (0 for none) by
// primary's database dbID, and forgets the entry either way.
func (t *Tx) takeEarlyForPush(primary, id, dbID string, mark uint64) (bool, error) {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	b := t.tx.Bucket(bucketEarly)
	k := discardKey(primary, id)
	v := b.Get(k)
	if v == nil {
		return false, nil
	}
	applies := true
	if len(v) >= 16 {
		seen, db := binary.BigEndian.Uint64(v[8:16]), string(v[16:])
		switch {
		case db != "" && dbID != "" && db != dbID:
			// Another database's discard (SR-7), whether or not either
			// came with a mark: the database id alone places it.
			applies = false
		case seen == 0 || mark == 0:
		case mark > seen:
			applies = false // a copy committed after the discard came
		}
	}
	if !applies {
		// Judged stale: forgotten, and the copy kept. Made visible
		// after the commit (staleearly.go): should the judgement be
		// wrong, that copy is one no discard settles.
		seen, db := binary.BigEndian.Uint64(v[8:16]), string(v[16:])
		t.staleEarly = append(t.staleEarly, staleEarly{primary: primary, id: id, seen: seen, db: db, mark: mark, dbID: dbID})
	}
	if applies && len(v) >= 16 && mark > 0 && binary.BigEndian.Uint64(v[8:16]) > 0 {
		// Placed before the discard by both marks: the copy the
		// discard was for, which may come again (a push whose reply
		// was lost, tried again): kept for those (rememberAppliedDiscard).
		return true, nil
	}
	return applies, b.Delete(k)
}

// rememberAppliedDiscard keeps a discard that settled a copy on receipt
// held here (key: its org id, or earlyPartialID for one recipient) in
// bucket early, as if it had come before the copy (dup43). A push whose
// whole one-trip write reached this server and whose reply was lost (a
// cut session) is stored here while the primary tries again — a second
// session, the next candidate, which may be this server — and the
// message may leave the primary meanwhile, its one discard for this
// server fetched and applied to the first copy. The repeat is the same
// copy: kept, the primary owes it no discard (LeftBeforeCopy: it left
// before that push was answered), so it is held until the hourly
// XQUERYHELD sweep and taken over and delivered a second time if the
// primary dies. Remembered under the mark presented with the discard, it
// drops every repeat of that copy (its mark, its commit's, is not above)
// and spares a copy of the org id committed after the discard was read
// (a higher mark: takeEarlyForPush forgets the entry and keeps it). A
// discard presented without a mark — a primary below shadow verbs 7,
// whose copies carry none and so cannot be placed, or an answer to
// XQUERYHELD — is not remembered: it would swallow a later copy of the
// same org id, acknowledged and then lost with the primary. The entry
// goes with the early discards' age (PruneDiscards).
func (t *Tx) rememberAppliedDiscard(primary, key string, now time.Time) error {
	if t.heldOnly || t.discardAt.Mark == 0 {
		return nil
	}
	return t.AddEarlyDiscard(primary, key, t.discardAt, now)
}
