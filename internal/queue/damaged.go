package queue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
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
}

// asMessage is what listings show of d: state Damaged, the size of the
// bytes kept, and why it does not decode as its last error.
func (d DamagedRecord) asMessage() *Message {
	return &Message{ID: d.ID, State: Damaged, Size: int64(len(d.Raw)), Arrived: time.UnixMicro(int64(d.ID)),
		LastError: d.Why}
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
func setAsideDamaged(btx *bolt.Tx, found []DamagedRecord, keys [][]byte) error {
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
	for _, ix := range []struct {
		name []byte
		sep  bool
		size int // the key's length when fixed, else 0
	}{
		{bucketSchedule, false, 16}, {bucketActive, false, 8}, {bucketQueues, true, 0}, {bucketOrgIDs, true, 0},
		{bucketTakenBy, true, 0}, {bucketRedeliver, false, 8}, {bucketSingle, false, 8},
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
func (t *Tx) setAsideOne(id ID) (DamagedRecord, error) {
	raw := bytes.Clone(t.messages.Get(id.Key()))
	d := DamagedRecord{ID: id, Raw: raw, Why: damagedWhy(id.Key(), raw)}
	return d, setAsideDamaged(t.tx, []DamagedRecord{d}, [][]byte{id.Key()})
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
	return DamagedRecord{ID: id, Raw: raw, Why: why}, true
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

// removeDamaged deletes the damaged record of id, its body (and spool
// reference) and its queue entry; false when id is not one.
func (t *Tx) removeDamaged(id ID) (bool, error) {
	b := t.tx.Bucket(bucketDamaged)
	if b == nil || b.Get(id.Key()) == nil {
		return false, nil
	}
	if err := t.dropRef(refMessage, id.Key()); err != nil { // spoolref.go
		return false, err
	}
	if err := deleteBodyValue(t.bodies, id.Key()); err != nil {
		return false, err
	}
	if err := dropIndexesOf(t.tx, map[ID]bool{id: true}); err != nil {
		return false, err
	}
	return true, b.Delete(id.Key())
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
func (q *Manager) removeDamagedMessage(ctx context.Context, id ID) (bool, error) {
	var removed bool
	err := q.store.Update(ctx, func(tx *Tx) error {
		var err error
		removed, err = tx.removeDamaged(id)
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
