package queue

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Damaged message records (bucket damaged, schema.go).
//
// A message record that does not decode — bytes of its page overwritten
// on the disk, a key that no longer names the record under it — cannot
// be delivered, changed or even listed as a message. Left in the
// messages bucket it would stop the scheduler at every claim of it (the
// claim's transaction fails, and with it every other message of the
// batch) and hide from every listing that decodes records. So it is set
// aside: its bytes, exactly as found, move to the bucket damaged under
// its id, in the transaction that finds it, and every index entry of
// that id goes (schedule, active, the queues, org ids, taken-over
// copies, redelivery, single-copy marks) but one: the queue index
// entry damaged ‖ 0x00 ‖ ID with state Damaged, so that queue list, the
// metrics and message list count it as every other message, in the
// queue QueueDamaged. Its body stays where it is, under the same id,
// with its spool reference: message export gives it to the operator.
// Only message remove acts on it (RemoveMessage: the record, its body
// and its entry go); every other action is refused with
// ErrDamagedRecord. Nothing of it is delivered: its envelope is not
// known.
//
// It is found in two places: the pass over every message record that
// Open makes for the taken-over index (repairTakenIndex), and the claim
// of a due message (claimDue) for damage Open did not see. A record
// stored under a key that is not 8 bytes long is set aside under an id
// made from the key (damagedID). An index entry left naming no record
// (its record's key was damaged) is dropped by the same Open, when it
// found damage, and by the claim that meets it.
//
// Its shadow copy (rt48 F2). The head of a record — version, id, state,
// sender … org id, shadow server, shadow id — comes before the
// recipients, and damage often leaves it whole. When it decodes (the id
// the one it is stored under, the state a state, the names without
// control characters: damagedHead), a copy it names on another server,
// not known lost, is the sound one: the commit that sets the record
// aside gives the message to that holder as for a poison message whose
// body is unreadable (handback.go: the holder takes its copy over and
// delivers it; the damaged record goes once the holder has the batch),
// and message remove of it without --force is refused (the removal would
// leave the copy as an orphan on its holder; with --force the copy is
// discarded too). message show names the holder, or says the head does
// not decode either, so that no holder can be named.

// QueueDamaged is the queue that lists damaged message records.
const QueueDamaged = "damaged"

// ErrDamagedRecord refuses an action other than remove or export on a
// damaged record.
var ErrDamagedRecord = errors.New("the message record is damaged")

// DamagedRecord is a record set aside: its id, its bytes as found and
// why it does not decode.
type DamagedRecord struct {
	ID  ID
	Raw []byte
	Why string
	// GivenTo is the server the commit that set the record aside gave
	// the message to (the holder of its sound shadow copy), "" when none.
	GivenTo string
	// CopyOf is the primary whose message the record was a shadow copy
	// of, kept here for it (its shadow:PRIMARY index entry named it when
	// the record was set aside), "" when none.
	CopyOf string
}

// LogText is the line an operator reads of d set aside.
func (d DamagedRecord) LogText() string {
	id := d.ID.String()
	if d.CopyOf != "" {
		return "message record damaged: a shadow copy of a message of " + d.CopyOf + ", set aside in the queue damaged (its bytes kept " +
			"as found, never delivered or taken over); " + d.CopyOf + " is told at its next holder probe and copies the message again; " +
			"the rest of the queue goes on: umbra message remove " + id + " removes it"
	}
	if d.GivenTo != "" {
		return "message record damaged: set aside in the queue damaged (its bytes kept as found, never delivered from here); " +
			d.GivenTo + " holds a sound shadow copy of it and is given the message, which it delivers, at its next shadow session " +
			"(the record here goes then); the rest of the queue goes on"
	}
	return "message record damaged: set aside in the queue damaged (its bytes kept as found, never delivered); the rest of the queue goes on: umbra message export " +
		id + ", then umbra message remove " + id
}

// asMessage is what listings show of d: state Damaged, the size of the
// bytes kept, and why it does not decode as its last error; the org id
// and the shadow copy its head names when the head decodes
// (damagedHead), else the last error says that they cannot be read.
func (d DamagedRecord) asMessage() *Message {
	m := &Message{ID: d.ID, State: Damaged, Size: int64(len(d.Raw)), Arrived: time.UnixMicro(int64(d.ID)),
		LastError: d.Why, DamagedCopyOf: d.CopyOf}
	if h, ok := damagedHead(d.ID, d.Raw); ok {
		m.OrgID = h.OrgID
		if d.GivenTo != "" {
			m.ShadowServer, m.ShadowID = d.GivenTo, h.ShadowID
		}
	} else {
		m.LastError += "; its head is damaged too: its org id and the server holding its shadow copy (if any) cannot be read"
	}
	return m
}

// damagedHead decodes the head of the damaged record raw stored under
// id — the fields before the recipients — into a Message of those fields
// alone; false when the head does not decode or does not hold up: the
// id is not id, the state is none, or the org id or a shadow name holds
// a byte that is not printable ASCII (what damage leaves in a string
// whose length survived).
func damagedHead(id ID, raw []byte) (*Message, bool) {
	// The version byte without the checksum flag (checksum.go): the
	// checksum of a damaged record fails by definition, and the head is
	// read before it.
	if len(raw) == 0 || raw[0]&^recordSummed == 1 || !knownRecordVersion(raw[0]&^recordSummed) {
		return nil, false
	}
	d := decoder{buf: raw[1:]}
	m := &Message{ID: ID(d.uint()), State: State(d.uint())}
	d.str() // From
	d.time()
	d.uint()      // Size
	for range 5 { // Connector, ClientIP, Helo, EnvID, MessageID
		d.str()
	}
	m.OrgID, m.ShadowServer, m.ShadowID = d.str(), d.str(), d.str()
	if d.err != nil || m.ID != id || m.State < Ready || m.State > Quarantined {
		return nil, false
	}
	for _, s := range []string{m.OrgID, m.ShadowServer, m.ShadowID} {
		for i := 0; i < len(s); i++ {
			if s[i] <= ' ' || s[i] >= 0x7f {
				return nil, false
			}
		}
	}
	return m, true
}

// damagedHolder is the server holding a sound shadow copy of the
// damaged record d, as its head names it (CopyHolder), "" when none is
// known or the head does not decode.
func (t *Tx) damagedHolder(d DamagedRecord) (*Message, string) {
	h, ok := t.damagedHeadOf(d.ID, d.Raw)
	if !ok {
		return nil, ""
	}
	return h, t.CopyHolder(h)
}

// damagedWhy says why raw, stored under key, is not a message record:
// the decoder's error, or "" when it is one.
func damagedWhy(key, raw []byte) string {
	m, err := decodeMessage(raw)
	switch {
	case err != nil:
		return fmt.Sprintf("%v (%d bytes kept as found)", err, len(raw))
	case len(key) != 8:
		return fmt.Sprintf("%v: stored under a key of %d bytes, not a message id (%d bytes kept as found)", errCorrupt, len(key), len(raw))
	case m.ID != ID(beUint64(key)):
		return fmt.Sprintf("%v: stored under id %s, names %s (%d bytes kept as found)", errCorrupt, ID(beUint64(key)), m.ID, len(raw))
	}
	return ""
}

// damagedID is the id a record under key is set aside under: the key
// itself when it is 8 bytes long, else its first 8 bytes (padded with
// zeros), the next free one when that is taken.
func damagedID(btx *bolt.Tx, key []byte) ID {
	if len(key) == 8 {
		return ID(beUint64(key))
	}
	var b [8]byte
	copy(b[:], key)
	id := ID(beUint64(b[:]))
	for btx.Bucket(bucketDamaged).Get(id.Key()) != nil || btx.Bucket(bucketMessages).Get(id.Key()) != nil {
		id++
	}
	return id
}

// setAsideDamaged moves the records in found (key → bytes, read from the
// messages bucket of btx) to the damaged bucket and drops every index
// entry of their ids (package comment above). It returns what it set
// aside.
func setAsideDamaged(btx *bolt.Tx, found []DamagedRecord, keys [][]byte, now time.Time) error {
	msgs, dmg := btx.Bucket(bucketMessages), btx.Bucket(bucketDamaged)
	ids := map[ID]bool{}
	for i, d := range found {
		if err := dmg.Put(d.ID.Key(), d.Raw); err != nil {
			return err
		}
		if err := deleteExact(msgs, keys[i], d.Raw); err != nil {
			return err
		}
		ids[d.ID] = true
	}
	// A sound copy elsewhere is given to its holder, before the
	// single-copy marks that say a copy is lost go with the indexes.
	t := wrapTx(btx)
	for i, d := range found {
		if h, holder := t.damagedHolder(d); holder != "" {
			h.State = Poison // given as a poison message is (handBackTx)
			given, err := t.handBackTx(h, now)
			if err != nil {
				return err
			}
			found[i].GivenTo = given
		}
	}
	// A shadow copy kept here for a primary: its queue index names the
	// primary (shadow:PRIMARY) when the record cannot; the primary is
	// told as of a copy its operator removed, naming no copy
	// (droppedcopy.go), before the index goes.
	if err := noteDamagedCopies(btx, ids, now); err != nil {
		return err
	}
	for i := range found {
		found[i].CopyOf = string(btx.Bucket(bucketDamaged).Get(damagedCopyOfKey(found[i].ID)))
	}
	if err := dropIndexesOf(btx, ids); err != nil {
		return err
	}
	qidx := btx.Bucket(bucketQueues)
	for id := range ids {
		if err := qidx.Put(queueKey(QueueDamaged, id), []byte{byte(Damaged)}); err != nil {
			return err
		}
	}
	return nil
}

// noteDamagedCopies writes a DroppedEvery note for the primary of each
// shadow copy among ids, as its shadow queue's index entry names it,
// and keeps that name beside the damaged record (damagedCopyOfKey), so
// that show names the primary once the index entry is gone.
func noteDamagedCopies(btx *bolt.Tx, ids map[ID]bool, now time.Time) error {
	qidx, dropped, dmg := btx.Bucket(bucketQueues), btx.Bucket(bucketDropped), btx.Bucket(bucketDamaged)
	if qidx == nil || dropped == nil {
		return nil
	}
	primaries := map[string]bool{}
	if err := qidx.ForEach(func(k, _ []byte) error {
		if name, id, ok := parseQueueKey(k); ok && ids[id] {
			if primary, ok := strings.CutPrefix(name, "shadow:"); ok && primary != "" {
				primaries[primary] = true
				if err := dmg.Put(damagedCopyOfKey(id), []byte(primary)); err != nil {
					return err
				}
			}
		}
		return nil
	}); err != nil {
		return err
	}
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], uint64(nanos(now)))
	for primary := range primaries {
		if err := dropped.Put(droppedKey(primary, DroppedEvery), v[:]); err != nil {
			return err
		}
	}
	return nil
}

// damagedCopyOfKey is the key, in the bucket damaged beside the record
// of id (8 bytes), of the primary whose message that record was a
// shadow copy of: id ‖ "copy-of". Readers of the bucket's records take
// 8-byte keys only; dropDamaged deletes both.
func damagedCopyOfKey(id ID) []byte {
	return append(id.Key(), "copy-of"...)
}

// damagedHolderKey is the key, in the bucket damaged beside the record
// of id, of the server that holds the copy the record's head names when
// the head names it by a spelling the holder fold pointed elsewhere
// (pointNotesAt, holderfold.go): id ‖ "holder". The head stays as found.
func damagedHolderKey(id ID) []byte {
	return append(id.Key(), "holder"...)
}

// damagedHeadOf is damagedHead of the damaged record raw of id, naming
// the holder the fold kept beside it (damagedHolderKey), if any.
func (t *Tx) damagedHeadOf(id ID, raw []byte) (*Message, bool) {
	h, ok := damagedHead(id, raw)
	if !ok {
		return nil, false
	}
	if b := t.tx.Bucket(bucketDamaged); b != nil && h.ShadowServer != "" {
		if v := b.Get(damagedHolderKey(id)); len(v) > 0 {
			h.ShadowServer = string(v)
		}
	}
	return h, true
}

// deleteExact deletes the entry key → val of b. Damage can leave keys
// out of order within a page, where the search Delete makes does not
// find them: then the entry is found by walking the bucket and deleted
// where the cursor stands.
func deleteExact(b *bolt.Bucket, key, val []byte) error {
	if v := b.Get(key); v != nil && bytes.Equal(v, val) {
		return b.Delete(key)
	}
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if bytes.Equal(k, key) && bytes.Equal(v, val) {
			return c.Delete()
		}
	}
	return fmt.Errorf("%w: the damaged record under key %x was not found again to set it aside", errCorrupt, key)
}

// idSuffixed reports whether k ends with an id in ids, after a 0x00
// separator when sep (queue, org id, taken-over keys) or right after a
// time (schedule keys, 16 bytes), or is one (8 bytes).
func idSuffixed(k []byte, ids map[ID]bool, sep bool) bool {
	if len(k) < 8 || sep && (len(k) < 9 || k[len(k)-9] != 0) {
		return false
	}
	return ids[ID(beUint64(k[len(k)-8:]))]
}

// dropIndexesOf deletes every index entry that names an id of ids.
func dropIndexesOf(btx *bolt.Tx, ids map[ID]bool) error {
	if len(ids) == 0 {
		return nil
	}
	t := wrapTx(btx)
	for id := range ids {
		if err := t.dropMark(id.Key()); err != nil { // its count with it (holders.go)
			return err
		}
	}
	for _, ix := range []struct {
		name []byte
		sep  bool
		size int // the key's length when fixed, else 0
	}{
		{bucketSchedule, false, 16}, {bucketActive, false, 8}, {bucketQueues, true, 0}, {bucketOrgIDs, true, 0},
		{bucketTakenBy, true, 0}, {bucketRedeliver, false, 8}, {bucketShadowIDs, true, 0},
	} {
		b := btx.Bucket(ix.name)
		if b == nil {
			continue
		}
		if err := deleteKeysWhere(b, func(k []byte) bool {
			return (ix.size == 0 || len(k) == ix.size) && idSuffixed(k, ids, ix.sep)
		}); err != nil {
			return err
		}
	}
	return nil
}

// deleteKeysWhere deletes the keys of b that drop names: collected
// first, since a bucket is not changed under its own ForEach.
func deleteKeysWhere(b *bolt.Bucket, drop func(k []byte) bool) error {
	var keys [][]byte
	if err := b.ForEach(func(k, _ []byte) error {
		if drop(k) {
			keys = append(keys, bytes.Clone(k))
		}
		return nil
	}); err != nil {
		return err
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// dropStaleIndexes deletes the entries of the schedule, active and
// queue indexes that name no record: a record stored under a damaged
// key leaves its id's entries so, and a claim of such an entry would
// find nothing. A queue entry of QueueDamaged names a record of the
// damaged bucket.
func dropStaleIndexes(btx *bolt.Tx) error {
	msgs, dmg := btx.Bucket(bucketMessages), btx.Bucket(bucketDamaged)
	for _, ix := range []struct {
		name  []byte
		idOf  func(k []byte) (ID, bool)
		isDmg func(k []byte) bool
	}{
		{bucketSchedule, func(k []byte) (ID, bool) { _, id, ok := parseScheduleKey(k); return id, ok }, nil},
		{bucketActive, func(k []byte) (ID, bool) { return ID(beUint64(k)), len(k) == 8 }, nil},
		{bucketQueues, func(k []byte) (ID, bool) { _, id, ok := parseQueueKey(k); return id, ok },
			func(k []byte) bool { n, _, _ := parseQueueKey(k); return n == QueueDamaged }},
	} {
		if err := deleteKeysWhere(btx.Bucket(ix.name), func(k []byte) bool {
			id, ok := ix.idOf(k)
			if !ok {
				return false // not this pass's to judge
			}
			home := msgs
			if ix.isDmg != nil && ix.isDmg(k) {
				home = dmg
			}
			return home.Get(id.Key()) == nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// setAsideOne sets aside the record of id that Get found damaged, in t.
func (t *Tx) setAsideOne(id ID, now time.Time) (DamagedRecord, error) {
	raw := bytes.Clone(t.messages.Get(id.Key()))
	found := []DamagedRecord{{ID: id, Raw: raw, Why: damagedWhy(id.Key(), raw)}}
	err := setAsideDamaged(t.tx, found, [][]byte{id.Key()}, now)
	return found[0], err
}

// dropStaleSchedule deletes the schedule entries of id, a message the
// database does not hold.
func (t *Tx) dropStaleSchedule(id ID) error {
	return dropIndexesOf(t.tx, map[ID]bool{id: true})
}

// Damaged returns the record of id set aside as damaged, if it is one.
func (t *Tx) Damaged(id ID) (DamagedRecord, bool) {
	b := t.tx.Bucket(bucketDamaged)
	if b == nil {
		return DamagedRecord{}, false
	}
	v := b.Get(id.Key())
	if v == nil {
		return DamagedRecord{}, false
	}
	raw := bytes.Clone(v)
	why := damagedWhy(id.Key(), raw)
	if why == "" {
		why = fmt.Sprintf("set aside as damaged (%d bytes kept as found)", len(raw))
	}
	d := DamagedRecord{ID: id, Raw: raw, Why: why, CopyOf: string(b.Get(damagedCopyOfKey(id)))}
	if h, ok := t.damagedHeadOf(id, raw); ok && h.ShadowServer != "" && h.ShadowID != "" {
		// Given to its copy's holder when it was set aside, and not yet
		// taken (handback.go).
		if g := t.tx.Bucket(bucketHandBack).Get(handBackKey(h.ShadowServer, h.ShadowID)); len(g) >= 8 && ID(beUint64(g[:8])) == id {
			d.GivenTo = h.ShadowServer
		}
	}
	return d, true
}

// DamagedRecords lists the records set aside, in id order.
func (t *Tx) DamagedRecords() []DamagedRecord {
	b := t.tx.Bucket(bucketDamaged)
	if b == nil {
		return nil
	}
	var out []DamagedRecord
	_ = b.ForEach(func(k, _ []byte) error {
		if len(k) == 8 {
			if d, ok := t.Damaged(ID(beUint64(k))); ok {
				out = append(out, d)
			}
		}
		return nil
	})
	return out
}

// damagedRemoveCheck is the operator's removal's decision on the
// damaged record d (force: remove --force): without force, a record
// whose head names a sound copy on another server is refused.
func (t *Tx) damagedRemoveCheck(d DamagedRecord, force bool) error {
	if force {
		return nil
	}
	if holder := d.GivenTo; holder != "" {
		return fmt.Errorf("%w: message %s: its record here does not decode, and %s holds a sound shadow copy of it "+
			"(named by the record's head); the message is given to %s, which takes the copy over and delivers it, at its "+
			"next shadow session (umbra shadow list shows it; the record here goes then). Removing the record now leaves "+
			"that copy on %s as a copy of a message this server no longer knows; umbra message remove --force removes "+
			"the record and discards the copy too, and the message is lost",
			ErrSoundCopyElsewhere, d.ID, holder, holder, holder)
	}
	return nil
}

// removeDamaged deletes the damaged record of id, its body (and spool
// reference) and its queue entry; false when id is not one. A shadow
// copy its head names is discarded with it (a forced removal:
// damagedRemoveCheck refuses one otherwise), and its hand-back dropped.
func (t *Tx) removeDamaged(id ID, force bool, now time.Time) (bool, error) {
	b := t.tx.Bucket(bucketDamaged)
	if b == nil || b.Get(id.Key()) == nil {
		return false, nil
	}
	d, _ := t.Damaged(id)
	if err := t.damagedRemoveCheck(d, force); err != nil {
		return false, err
	}
	if h, ok := t.damagedHeadOf(d.ID, d.Raw); ok && h.ShadowServer != "" && h.ShadowID != "" {
		if err := t.tx.Bucket(bucketHandBack).Delete(handBackKey(h.ShadowServer, h.ShadowID)); err != nil {
			return false, err
		}
		if _, err := t.addCopyDiscard(h, now); err != nil {
			return false, err
		}
	}
	return true, t.dropDamaged(id)
}

// dropDamaged deletes the damaged record of id, its body (and spool
// reference) and its index entries.
func (t *Tx) dropDamaged(id ID) error {
	if err := t.dropRef(refMessage, id.Key()); err != nil { // spoolref.go
		return err
	}
	if err := deleteBodyValue(t.bodies, refMessage, id.Key()); err != nil {
		return err
	}
	if err := dropIndexesOf(t.tx, map[ID]bool{id: true}); err != nil {
		return err
	}
	if err := t.tx.Bucket(bucketDamaged).Delete(damagedCopyOfKey(id)); err != nil {
		return err
	}
	if err := t.tx.Bucket(bucketDamaged).Delete(damagedHolderKey(id)); err != nil {
		return err
	}
	return t.tx.Bucket(bucketDamaged).Delete(id.Key())
}

// givenDamaged reports whether id is a damaged record given to server
// under its copy sid (handback.go), and returns it.
func (t *Tx) givenDamaged(id ID, server, sid string) (DamagedRecord, bool) {
	d, ok := t.Damaged(id)
	if !ok || !sameServer(d.GivenTo, server) {
		return d, false
	}
	h, ok := t.damagedHeadOf(id, d.Raw)
	return d, ok && h.ShadowID == sid
}

// DamagedAtOpen lists the records Open set aside as damaged.
func (s *Store) DamagedAtOpen() []DamagedRecord { return s.damagedAtOpen }

// DamagedRecords lists every record set aside as damaged.
func (s *Store) DamagedRecords() []DamagedRecord {
	var out []DamagedRecord
	_ = s.View(func(tx *Tx) error { out = tx.DamagedRecords(); return nil })
	return out
}

// damagedRecord is the record of id set aside as damaged, for the
// operator's commands.
func (q *Manager) damagedRecord(id ID) (DamagedRecord, bool) {
	var d DamagedRecord
	var ok bool
	_ = q.store.View(func(tx *Tx) error { d, ok = tx.Damaged(id); return nil })
	return d, ok
}

// damagedRefusal is the refusal of action on the damaged record of id:
// the action does not apply (ErrNotApplicable), as for a poison
// message's suspension.
func damagedRefusal(id ID, action string) error {
	return fmt.Errorf("%w: %w: message %s: its record does not decode, so %s does not act on it; "+
		"umbra message export %s writes its body, umbra message remove %s removes it",
		ErrNotApplicable, ErrDamagedRecord, id, action, id, id)
}

// removeDamagedMessage removes the damaged record of id; false when id
// is not one.
func (q *Manager) removeDamagedMessage(ctx context.Context, id ID, force bool) (bool, error) {
	var removed bool
	now := q.clk.Now()
	// A removal frees room: on a full disk it may give up the space
	// reserve (changeOnceFreeing); for a record that is not damaged
	// this commit writes nothing, and needs no room.
	err := q.store.UpdateFreeing(ctx, "the operator's removal of message "+id.String(), func(tx *Tx) error {
		var err error
		removed, err = tx.removeDamaged(id, force, now)
		return err
	})
	if err != nil || !removed {
		return false, err
	}
	q.log.Info("damaged message record removed by the administrator", "msg_id", id.String())
	q.ev.Event("remove", &Message{ID: id, State: Damaged}, nil, "damaged record removed by the administrator")
	q.notifyGone(id)
	return true, nil
}

// damagedListed adds the damaged records matching f to out (oldest
// first, as listings are), up to f.Limit.
func damagedListed(tx *Tx, f MessageFilter, out []*Message) []*Message {
	if f.Queue != "" && f.Queue != QueueDamaged {
		return out
	}
	var add []*Message
	for _, d := range tx.DamagedRecords() {
		if m := d.asMessage(); f.match(m) {
			add = append(add, m)
		}
	}
	if len(add) == 0 {
		return out
	}
	out = append(out, add...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	if len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out
}

// RawRecord returns a copy of the bytes stored for id: its record in
// the messages bucket, or one set aside as damaged; nil when neither.
func (t *Tx) RawRecord(id ID) []byte {
	if v := t.messages.Get(id.Key()); v != nil {
		return bytes.Clone(v)
	}
	if b := t.tx.Bucket(bucketDamaged); b != nil {
		return bytes.Clone(b.Get(id.Key()))
	}
	return nil
}
