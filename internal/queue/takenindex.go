package queue

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The index of taken-over copies by primary (bucket takenby, schema.go).
//
// A copy taken over from a primary keeps its Primary and ShadowID while
// it is pending, whatever queue holds it — its shadow queue, a route's
// queue (waiting for a retry, or suspended), a redirect, the poison
// queue — until an attempt hands it on: the primary's discard still
// settles it, and the primary is watched for that (hasShadowCopies).
// The index names every such message under its primary, so "is this
// primary still watched" is one seek and a primary's returning answer
// finds its copies without reading any queue.
//
// It is kept by Tx.Put and Tx.Delete, in the transaction that changes
// the record: an entry exists exactly when the record has a pending
// recipient with that Primary and a ShadowID (takenFrom). Its value
// (takenValue) names the transport database id of the primary the copy
// was taken over under — the one stored for it when the takeover was
// committed, the database the copy was made against — and whether the
// copy may be given back when the primary answers again with that id
// (giveBackTx): the id alone, given back; takenUnderMark ‖ id, never.
// Every kind of takeover writes it, in its commit (shadow28 item 2: one
// for SR-7 or at expiry wrote none, so a copy of a primary back with a
// new database still avoided it as the server the message came from,
// delivery originLostIt, and shadow list could only name the primary's
// current id). Only a takeover for failed heartbeats may be given back
// (ShadowHeartbeatFailed): the primary may come back with its queue —
// until it presents a rollback mark of that id (keepTakenOverTx). A
// takeover because the primary presented another database, an
// expired copy, a rollback mark, a copy the
// primary gave this server, one whose database changed while it was in
// delivery: never. Empty: an entry an earlier release wrote, or made
// again at Open (repairTakenIndex): under no known id, never given back.
// An earlier release reading a marked value compares it whole with a
// presented id, which never matches: nothing given back.
// Whether given back or not, the database named is the one the
// recipients this server finishes of the copy are noted under
// (takendone.go, takenhanded.go): a primary back with it after any kind
// of takeover learns what was finished here and does not deliver it
// again.
//
// The entry is one per message and primary, and its value names the
// database of each copy (takenEntry): one message can hold, from one
// primary, a recipient taken over under its old database and a later
// copy of the same message made against its new one (the taken-over
// message relayed to it again) and taken over in turn, for failed
// heartbeats (mixed38 defect 1). One value for the message filed the
// later copy under the old database: never given back, and settled by
// nothing the new database said — both servers delivered it. Each reader
// (the give-back, the new-database rule of discards, the taken-done and
// handed notes, the busy and restored answers, shadow list) reads the
// value of the recipient's copy (its ShadowID). A value an earlier
// release wrote is one for every copy the message had taken over then:
// Open rewrites it per copy with that value (repairTakenIndex), and a
// record written since keeps it for those copies (indexTaken). An earlier
// release reading a value of this one compares it whole with a presented
// id, which never matches: nothing given back, no discard settles the
// copies (a duplicate at worst, never a loss).

// takenUnderMark starts the index value of a copy that is never given
// back (takenValue): no transport database id starts with a NUL.
const takenUnderMark = "\x00"

// takenValue is the index value of a copy taken over under database id
// dbID, which may go back to its primary presenting dbID (giveBack)
// or never; "" for no known id.
func takenValue(dbID string, giveBack bool) string {
	if dbID == "" || giveBack {
		return dbID
	}
	return takenUnderMark + dbID
}

// parseTaken reads an index value (takenValue): the database id the copy
// was taken over under ("" unknown), and the id it may be given back
// with ("" never).
func parseTaken(v string) (under, giveBack string) {
	if rest, ok := strings.CutPrefix(v, takenUnderMark); ok {
		return rest, ""
	}
	return v, v
}

// takenCopyMark starts an index value that holds the value of each copy
// (takenEntry.encode): no transport database id, and so no takenValue,
// starts with it.
const takenCopyMark = '\x01'

// takenEntry is an index entry read: the value (takenValue) of each
// copy of the message taken over from the primary, by its copy id
// (ShadowID), and def, the value of a copy not listed — an entry of an
// earlier release (one value for the message) has only def.
type takenEntry struct {
	def    string
	copies map[string]string
}

// decodeTaken reads an index value. One an earlier release merged a
// takeover into (mergeTaken: takenUnderMark before a value of this
// release) keeps its copies' databases, none of them given back. A value
// that does not parse names no database, never given back.
func decodeTaken(v []byte) takenEntry {
	never := false
	if len(v) > 1 && v[0] == 0 && v[1] == takenCopyMark {
		never, v = true, v[1:]
	}
	if len(v) == 0 || v[0] != takenCopyMark {
		return takenEntry{def: string(v)}
	}
	var e takenEntry
	fields := make([]string, 0, 8)
	for rest := v[1:]; len(rest) > 0; {
		n, k := binary.Uvarint(rest)
		if k <= 0 || uint64(len(rest)-k) < n {
			return takenEntry{}
		}
		fields = append(fields, string(rest[k:k+int(n)]))
		rest = rest[k+int(n):]
	}
	if len(fields)%2 != 1 {
		return takenEntry{}
	}
	e.def = fields[0]
	for i := 1; i+1 < len(fields); i += 2 {
		if e.copies == nil {
			e.copies = map[string]string{}
		}
		e.copies[fields[i]] = fields[i+1]
	}
	if never {
		e.def = neverGiven(e.def)
		for sid, val := range e.copies {
			e.copies[sid] = neverGiven(val)
		}
	}
	return e
}

// neverGiven is value (takenValue) never given back.
func neverGiven(value string) string {
	under, _ := parseTaken(value)
	return takenValue(under, false)
}

// encode is the index value of e: takenCopyMark, then def and each copy
// id with its value, in the order of the ids, each a uvarint length and
// its bytes.
func (e takenEntry) encode() []byte {
	v := []byte{takenCopyMark}
	v = binary.AppendUvarint(v, uint64(len(e.def)))
	v = append(v, e.def...)
	for _, sid := range slices.Sorted(maps.Keys(e.copies)) {
		v = binary.AppendUvarint(v, uint64(len(sid)))
		v = append(v, sid...)
		val := e.copies[sid]
		v = binary.AppendUvarint(v, uint64(len(val)))
		v = append(v, val...)
	}
	return v
}

// of is the value (takenValue) of the copy with id sid.
func (e takenEntry) of(sid string) string {
	if v, ok := e.copies[sid]; ok {
		return v
	}
	return e.def
}

// values lists the values e holds: def, when no copy is listed (an entry
// of an earlier release, its value for every copy), and each copy's.
func (e takenEntry) values() []string {
	if len(e.copies) == 0 {
		return []string{e.def}
	}
	out := make([]string, 0, len(e.copies))
	for _, v := range e.copies {
		out = append(out, v)
	}
	return out
}

// takenSIDs lists the copy ids of m's recipients taken over from primary
// (takenOverRcpt), once each.
func takenSIDs(m *Message, primary string) []string {
	var out []string
	for i := range m.Rcpts {
		r := &m.Rcpts[i]
		if takenOverRcpt(r) && serverKey(r.Primary) == serverKey(primary) && !slices.Contains(out, r.ShadowID) {
			out = append(out, r.ShadowID)
		}
	}
	return out
}

// takenEntryOf reads message id's entry for primary (none: an empty
// entry).
func (t *Tx) takenEntryOf(primary string, id ID) takenEntry {
	b := t.tx.Bucket(bucketTakenBy)
	if b == nil {
		return takenEntry{}
	}
	return decodeTaken(b.Get(takenByKey(primary, id)))
}

// takenCopyValue is the index value of the copy sid of message id taken
// over from primary ("" none, or under no known database).
func (t *Tx) takenCopyValue(primary string, id ID, sid string) string {
	return t.takenEntryOf(primary, id).of(sid)
}

// takenByKey is the index key of message id taken over from primary.
func takenByKey(primary string, id ID) []byte {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	k := make([]byte, 0, len(primary)+9)
	k = append(k, primary...)
	k = append(k, 0)
	return append(k, id.Key()...)
}

// takenOverRcpt reports whether r was taken over from a copy and is
// still pending: its Primary and ShadowID stay set until an attempt
// hands it on (takeoverRcpt).
func takenOverRcpt(r *Recipient) bool {
	return r.Status == Pending && r.Primary != "" && r.ShadowID != ""
}

// takenFrom lists the primaries m has a taken-over recipient of
// (takenOverRcpt).
func takenFrom(m *Message) []string {
	var out []string
	for i := range m.Rcpts {
		r := &m.Rcpts[i]
		if !takenOverRcpt(r) {
			continue
		}
		dup := false
		for _, p := range out {
			dup = dup || p == r.Primary
		}
		if !dup {
			out = append(out, r.Primary)
		}
	}
	return out
}

// indexTaken moves m's entries in the index from what old (nil: none)
// had to what m has. An entry that stays keeps the values of the copies
// still taken over, and loses those of copies that no longer are; a
// copy newly taken over has the value a takeover wrote for it first
// (markTaken), else none (""; a takeover writing after the Put adds to
// it). An entry of an earlier release (one value, def) gives its value
// to the copies old had taken over — the ones it spoke for — and to
// every copy when old is unknown. Entries of the primaries old or m name
// and m no longer has a taken-over copy of go.
func (t *Tx) indexTaken(old, m *Message) error {
	b := t.tx.Bucket(bucketTakenBy)
	if b == nil { // a database opened for a restore check
		return nil
	}
	now := takenFrom(m)
	for _, p := range now {
		k := takenByKey(p, m.ID)
		v := b.Get(k)
		e := decodeTaken(v)
		var before []string
		if old != nil {
			before = takenSIDs(old, p)
		}
		next := takenEntry{copies: map[string]string{}}
		for _, sid := range takenSIDs(m, p) {
			val, listed := e.copies[sid]
			if !listed && (old == nil || slices.Contains(before, sid)) {
				val = e.def
			}
			next.copies[sid] = val
		}
		if nv := next.encode(); !bytes.Equal(nv, v) {
			if err := b.Put(k, nv); err != nil {
				return err
			}
		}
	}
	return t.unindexTaken(old, m.ID, now, m)
}

// unindexTaken deletes the entries of message id for every primary old
// or m (either may be nil) names, except those in keep.
func (t *Tx) unindexTaken(old *Message, id ID, keep []string, m *Message) error {
	b := t.tx.Bucket(bucketTakenBy)
	if b == nil {
		return nil
	}
	seen := map[string]bool{}
	for _, p := range keep {
		seen[p] = true
	}
	for _, msg := range []*Message{old, m} {
		if msg == nil {
			continue
		}
		for _, r := range msg.Rcpts {
			if r.Primary == "" || seen[r.Primary] {
				continue
			}
			seen[r.Primary] = true
			if err := b.Delete(takenByKey(r.Primary, id)); err != nil {
				return err
			}
		}
	}
	return nil
}

// dropTakenOf deletes every entry of message id, for a record that no
// longer decodes (Tx.Delete): a full pass, for that rare case.
func (t *Tx) dropTakenOf(id ID) error {
	b := t.tx.Bucket(bucketTakenBy)
	if b == nil {
		return nil
	}
	var keys [][]byte
	suffix := id.Key()
	err := b.ForEach(func(k, _ []byte) error {
		if len(k) > 9 && k[len(k)-9] == 0 && bytes.HasSuffix(k, suffix) {
			keys = append(keys, bytes.Clone(k))
		}
		return nil
	})
	for _, k := range keys {
		if err == nil {
			err = b.Delete(k)
		}
	}
	return err
}

// markTaken records the value (takenValue) of the copies sids of message
// id taken over from primary now: the database id each was taken over
// under, and whether it may go back to the primary answering again with
// it. It is written in the commit of the takeover, before or after the
// Put of the record (indexTaken keeps a copy's value); the record must
// have those copies taken over, so that the entry goes with it.
//
// The value is per copy (takenEntry): a later copy of a message — made
// against the primary's new database after a recipient of it was taken
// over under the old one — taken over too keeps its own database, and
// goes back to it or is settled by it as any copy of it. A copy whose
// entry already names a database (a takeover kept aside while in
// delivery, and another since) keeps it, never given back unless both
// may be (mergeTaken).
func (t *Tx) markTaken(primary string, id ID, sids []string, value string) error {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	b := t.tx.Bucket(bucketTakenBy)
	if b == nil || value == "" || len(sids) == 0 {
		return nil
	}
	k := takenByKey(primary, id)
	v := b.Get(k)
	e := decodeTaken(v)
	next := takenEntry{def: e.def, copies: map[string]string{}}
	for sid, val := range e.copies {
		next.copies[sid] = val
	}
	// An earlier release's value (def) speaks for the copies taken over
	// before: kept, indexTaken gives it to them.
	for _, sid := range sids {
		val, listed := e.copies[sid]
		if !listed {
			val = ""
		}
		next.copies[sid] = mergeTaken(val, value)
	}
	return b.Put(k, next.encode())
}

// mergeTaken is the index value of a copy whose value was old ("": none,
// or made empty by the Put of this takeover's record) when a takeover
// under value adds to it (markTaken): the database old names, when it
// names one, and never given back unless both may be.
func mergeTaken(old, value string) string {
	if old == "" {
		return value
	}
	oldUnder, oldBack := parseTaken(old)
	under, back := parseTaken(value)
	if oldUnder == "" {
		return value
	}
	if oldUnder != under || oldBack == "" || back == "" {
		return takenValue(oldUnder, false)
	}
	return value
}

// peerDatabase is the transport database id stored for primary ("" none
// or unreadable): the one its copies here were made against, which a
// takeover records (markTaken) before it may change.
func (t *Tx) peerDatabase(primary string) string {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	p, err := t.Peer(primary)
	if err != nil || p == nil {
		return ""
	}
	return p.DatabaseID
}

// hasTakenOver reports whether any copy taken over from primary is
// still pending here: one seek.
func (t *Tx) hasTakenOver(primary string) bool {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	b := t.tx.Bucket(bucketTakenBy)
	if b == nil {
		return false
	}
	prefix := append([]byte(primary), 0)
	k, _ := b.Cursor().Seek(prefix)
	return k != nil && bytes.HasPrefix(k, prefix) && len(k) == len(prefix)+8
}

// takenOverOf lists the messages with a copy taken over from primary
// and, for each, its index entry: the value of each copy (takenValue),
// which compared whole with a presented id matches only the id that
// copy may be given back to.
func (t *Tx) takenOverOf(primary string) (ids []ID, entries []takenEntry) {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	b := t.tx.Bucket(bucketTakenBy)
	if b == nil {
		return nil, nil
	}
	prefix := append([]byte(primary), 0)
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if len(k) != len(prefix)+8 {
			continue
		}
		ids = append(ids, ID(beUint64(k[len(prefix):])))
		entries = append(entries, decodeTaken(v))
	}
	return ids, entries
}

// mayGiveBack reports whether a copy taken over from primary may go
// back to it with database dbID (a copy with that value): a session
// presenting dbID then has copies to give back (presentedNeedsNoWrite).
// It reads the primary's entries only.
func (t *Tx) mayGiveBack(primary, dbID string) bool {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	if dbID == "" {
		return false
	}
	_, entries := t.takenOverOf(primary)
	for _, e := range entries {
		if slices.Contains(e.values(), dbID) {
			return true
		}
	}
	return false
}

// takenPrimaries lists the primaries the index names, in order.
func (t *Tx) takenPrimaries() []string {
	b := t.tx.Bucket(bucketTakenBy)
	if b == nil {
		return nil
	}
	var out []string
	c := b.Cursor()
	for k, _ := c.First(); k != nil; {
		if len(k) < 9 || k[len(k)-9] != 0 {
			k, _ = c.Next()
			continue
		}
		p := string(k[:len(k)-9])
		out = append(out, p)
		// Skip the rest of this primary's entries: past p ‖ 0x00 ‖ 0xff….
		next := append(append([]byte(p), 0), bytes.Repeat([]byte{0xff}, 9)...)
		k, _ = c.Seek(next)
	}
	return out
}

// repairTakenIndex makes the index agree with the message records, in
// the transaction of Open: an entry for every taken-over copy (a new one
// empty — never given back: a database of an earlier release, or one an
// earlier release wrote to since, does not say which database its
// takeovers were of), none for a copy that is not one. Entries that
// agree keep their value. It reads every message record once, and that
// pass also finds the records that do not decode (or name another id
// than their key): it sets them aside (damaged.go) and returns them,
// and drops the index entries that name no record.
func repairTakenIndex(tx *bolt.Tx, now time.Time) ([]DamagedRecord, error) {
	b := tx.Bucket(bucketTakenBy)
	want := map[string]bool{}
	var damaged []DamagedRecord
	var damagedKeys [][]byte
	sids := newShadowIDRepair(tx) // the index by copy id, in the same pass (shadowidindex.go)
	err := tx.Bucket(bucketMessages).ForEach(func(k, v []byte) error {
		m, err := decodeMessage(v)
		if err != nil || len(k) != 8 || m.ID != ID(beUint64(k)) {
			damaged = append(damaged, DamagedRecord{Raw: bytes.Clone(v), Why: damagedWhy(k, v)})
			damagedKeys = append(damagedKeys, bytes.Clone(k))
			return nil
		}
		sids.see(m)
		for _, p := range takenFrom(m) {
			key := takenByKey(p, m.ID)
			want[string(key)] = true
			// Per copy (takenEntry): an earlier release's value goes to
			// every copy taken over now, the ones it spoke for; a copy
			// the entry does not list names no database.
			v := b.Get(key)
			e := decodeTaken(v)
			next := takenEntry{copies: map[string]string{}}
			for _, sid := range takenSIDs(m, p) {
				val, listed := e.copies[sid]
				if !listed && len(e.copies) == 0 {
					val = e.def
				}
				next.copies[sid] = val
			}
			if nv := next.encode(); !bytes.Equal(nv, v) {
				if err := b.Put(key, nv); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := deleteKeysWhere(b, func(k []byte) bool { return !want[string(k)] }); err != nil { // damaged.go
		return nil, err
	}
	if err := sids.finish(); err != nil {
		return nil, err
	}
	for i := range damaged {
		damaged[i].ID = damagedID(tx, damagedKeys[i])
	}
	if len(damaged) == 0 {
		return nil, nil
	}
	if err := setAsideDamaged(tx, damaged, damagedKeys, now); err != nil {
		return nil, fmt.Errorf("setting aside damaged message records: %w", err)
	}
	// Only a file with damage can hold index entries that name no
	// record (a key overwritten): the pass is not made otherwise.
	if err := dropStaleIndexes(tx); err != nil {
		return nil, err
	}
	return damaged, nil
}

// giveBackTx makes the copies taken over from primary for failed
// heartbeats shadowed copies of it again, now that it answered with the
// database they were taken over from (dbID): it still holds the
// originals, and its discard or its answer to XQUERYHELD settles each
// copy as for any held copy — sending both would be a duplicate. Only a
// copy still waiting is given back — Ready, or claimed with every job
// only waiting for a slot of its destination's window (withdrawn before
// this commit: t.withdrawn) — not one in delivery here (an attempt of it
// runs: the attempt's commit writes the record; it stays taken over, as
// does a recipient an attempt handed on), not one of a quarantined message, and
// not one of a poison message with other recipients still pending (a
// shadowed recipient of a poison message would be listed nowhere but
// the poison queue). The takeovers kept aside for messages in delivery
// (earlytakeover) that were made for those heartbeats are dropped: the
// copies stay shadowed when the attempt commits. It returns the
// messages changed, and adds to held those an operator's hold
// (message suspend) held here: the hold ends here with the give-back,
// and goes to the primary as a held note in this commit (heldnote.go).
func (t *Tx) giveBackTx(p *ShadowPeer, dbID string, now time.Time, held *[]ID) ([]*Message, error) {
	if dbID == "" || p.DatabaseID != dbID {
		return nil, nil
	}
	if err := t.dropEarlyTakeoversOf(p.Primary, dbID); err != nil {
		return nil, err
	}
	ids, entries := t.takenOverOf(p.Primary)
	addr, via, _ := strings.Cut(p.Addr, " via ")
	var out []*Message
	for i, id := range ids {
		if !slices.Contains(entries[i].values(), dbID) {
			continue
		}
		m, err := t.Get(id)
		if err != nil {
			if err == ErrNotFound {
				continue
			}
			return nil, err
		}
		if m.State == Active && t.withdrawn[m.ID] {
			// Every job of it only waited for a slot of its
			// destination's window, taken out of the scheduler's
			// queues before this commit (withdrawTakenWaiting): no
			// attempt of it reached the next hop, so it goes back as a
			// Ready copy would (asReady; rt47 F1a).
			_ = asReady(m, true)
		}
		if m.State == Active || m.State == Quarantined {
			continue
		}
		// Only the copies taken over under dbID that may go back (their
		// value per copy, takenEntry): one of the same message taken over
		// under another database stays this server's.
		goes := func(r *Recipient) bool {
			return r.Status == Pending && r.Primary == p.Primary && r.ShadowID != "" && entries[i].of(r.ShadowID) == dbID
		}
		others := false // pending recipients that stay this server's
		for j := range m.Rcpts {
			r := &m.Rcpts[j]
			others = others || r.Status == Pending && !goes(r)
		}
		if m.State == Poison && others {
			continue
		}
		before := statusesNow(m)
		if m.State == Suspended {
			// The hold goes to the primary with the copy (heldnote.go).
			*held = append(*held, m.ID)
			var sids []string
			for _, sid := range heldShadowIDs(m, p.Primary) {
				if entries[i].of(sid) == dbID {
					sids = append(sids, sid)
				}
			}
			if err := t.noteTakenHeldTx(dbID, sids, now); err != nil {
				return nil, err
			}
		}
		for j := range m.Rcpts {
			r := &m.Rcpts[j]
			if !goes(r) {
				continue
			}
			r.Status, r.Queue, r.Redirect = Shadowed, "shadow:"+p.Primary, ""
			r.PrimaryAddr, r.PrimaryVia = addr, via
			r.NextHop, r.LastReply = "", "given back to "+p.Primary+": it answered again with the transport database the copy was taken over from"
		}
		if !others {
			m.State = Shadow
		}
		// A shadow copy again, with the original at its primary: the
		// mark of its takeover goes, and a copy made again meanwhile is
		// owed its discard, whole or for the recipients given back
		// (takensingle.go).
		if err := t.copySettled(m, before, now); err != nil {
			return nil, err
		}
		if err := t.Put(m); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// dropEarlyTakeoversOf forgets the takeovers from primary kept aside for
// messages in delivery that were made while it had database dbID.
func (t *Tx) dropEarlyTakeoversOf(primary, dbID string) error {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	b := t.tx.Bucket(bucketTaken)
	var keys [][]byte
	err := b.ForEach(func(k, v []byte) error {
		if len(k) > 9 && k[8] == 0 && string(k[9:]) == primary && len(v) > 8 && string(v[8:]) == dbID {
			keys = append(keys, bytes.Clone(k))
		}
		return nil
	})
	for _, k := range keys {
		if err == nil {
			err = b.Delete(k)
		}
	}
	if err != nil {
		return fmt.Errorf("dropping kept-aside takeovers of %s: %w", primary, err)
	}
	return nil
}

// takenUnderOther is, of message id's copies taken over from primary,
// the ones taken over under a database id other than the one the
// session applying discards presented (t.presenting): a primary back
// with a new database holds no record of mail accepted under the old
// one, so its discards and "done" answers for old ids settle none of
// those copies (SR-7). Unknown ids on either side keep the earlier rule.
// It judges each copy by its own database (takenEntry): a copy of the
// same message made against the new database since (shadowed for the
// primary again, or taken over in turn for failed heartbeats) is
// settled by that database's discard as any copy is (settlesNot). nil:
// none.
func (t *Tx) takenUnderOther(primary string, id ID) takenOther {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	b := t.tx.Bucket(bucketTakenBy)
	if b == nil || t.presenting == "" && !t.heldOnly {
		return nil
	}
	v := b.Get(takenByKey(primary, id))
	if v == nil {
		return nil
	}
	if t.heldOnly {
		return func(string) bool { return true }
	}
	e, presenting := decodeTaken(v), t.presenting
	return func(sid string) bool {
		under, _ := parseTaken(e.of(sid))
		return under != "" && under != presenting
	}
}

// takenOther reports whether the copy with id sid is one a discard in
// this transaction leaves alone (takenUnderOther).
type takenOther func(sid string) bool

// settlesNot reports whether a discard from primary in this transaction
// must leave recipient r alone: r is taken over from primary and its
// copy was taken over under another database than the one presented
// (old: takenUnderOther for the message).
func settlesNot(old takenOther, r *Recipient, primary string) bool {
	return old != nil && takenOverRcpt(r) && serverKey(r.Primary) == serverKey(primary) && old(r.ShadowID)
}

// takenUnderOther is also true for every taken-over copy while the
// transaction applies an answer to XQUERYHELD (heldOnly): it settles
// held copies only (ShadowHeldDone).

// takenOverUnder reports whether m has a recipient taken over from
// primary under the copy id sid (takenOverRcpt): a discard of sid kept
// aside for m's attempt would settle it too.
func takenOverUnder(m *Message, primary, sid string) bool {
	for i := range m.Rcpts {
		r := &m.Rcpts[i]
		if takenOverRcpt(r) && serverKey(r.Primary) == serverKey(primary) && r.ShadowID == sid {
			return true
		}
	}
	return false
}

// keepTakenOverTx makes every copy taken over from primary that may be
// given back with dbID (failed heartbeats: takenValue(dbID, true)) a copy
// never given back, and so the takeovers kept aside for its messages in
// delivery: the primary presented a rollback mark of dbID below the one
// seen (ShadowMarkSeen), an older file of the same database, which does
// not hold the originals of copies made after it. Its id alone no longer
// says it is back with its queue: the same id, rolled back behind the
// copies, must not have them back (giveBackTx on return, a relay's
// XSHADOW, the kept-aside takeovers dropped) — the rollback wins over
// every later give-back. It returns the number of copies changed.
func (t *Tx) keepTakenOverTx(primary, dbID string) (int, error) {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	if dbID == "" {
		return 0, nil
	}
	never := takenValue(dbID, false)
	n := 0
	ids, entries := t.takenOverOf(primary)
	for i, id := range ids {
		e, changed := entries[i], false
		if e.def == dbID {
			e.def, changed = never, true
		}
		for sid, v := range e.copies {
			if v == dbID {
				e.copies[sid], changed = never, true
			}
		}
		if !changed {
			continue
		}
		if err := t.tx.Bucket(bucketTakenBy).Put(takenByKey(primary, id), e.encode()); err != nil {
			return n, fmt.Errorf("keeping the copies taken over from %s: %w", primary, err)
		}
		n++
	}
	b := t.tx.Bucket(bucketTaken)
	type kv struct{ k, v []byte }
	var early []kv
	err := b.ForEach(func(k, v []byte) error {
		if len(k) > 9 && k[8] == 0 && string(k[9:]) == primary && len(v) > 8 && string(v[8:]) == dbID {
			early = append(early, kv{bytes.Clone(k), append(bytes.Clone(v[:8]), never...)})
		}
		return nil
	})
	for _, e := range early {
		if err == nil {
			err = b.Put(e.k, e.v)
		}
	}
	if err != nil {
		return n, fmt.Errorf("keeping the kept-aside takeovers of %s: %w", primary, err)
	}
	return n + len(early), nil
}

// mayGiveBackCopy reports whether message id's copy sid taken over from
// primary may still go back to it presenting dbID: its index entry says
// so now. An attempt that gives a copy back decides from what its claim
// read (givebackrelay.go); a rollback mark its own session presented
// meanwhile makes the entry never given back (keepTakenOverTx), which
// its commit reads here.
func (t *Tx) mayGiveBackCopy(primary string, id ID, sid, dbID string) bool {
	b := t.tx.Bucket(bucketTakenBy)
	if b == nil || dbID == "" {
		return false
	}
	v := b.Get(takenByKey(primary, id))
	if v == nil {
		return true // no entry to read (an older record): as its claim read it
	}
	_, back := parseTaken(decodeTaken(v).of(sid))
	return back == dbID
}

// rolledBackInDelivery is the note of a copy an attempt would have given
// back to a primary its own session found rolled back.
const rolledBackInDelivery = "its transport database was rolled back (a rollback mark below the one seen, presented in the session of this copy's attempt): not given back"
