package queue

import (
	"bytes"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// The index of message records by the id of their copy (bucket
// shadowids, schema.go):
//
//	shadowids shadow id ‖ 0x00 ‖ ID (8, BE) → empty
//
// one entry per record whose ShadowID is set, whatever its state: the
// original of a copy kept on another server (its ShadowID the id there:
// its org id for a copy on receipt, "<id>-…" for a relayed message's),
// a failure DSN carrying the discard of another message's copy, a shadow
// copy kept here. A note that names a copy by that id — what a holder
// finished of the copies it took over (takendone.go), a copy its
// operator removed (droppedcopy.go) — finds its records by one seek per
// id, never by a walk over the queue in the single writer's transaction
// (with 100,000 messages queued a walk held every receive commit for
// about 0.4 s per batch of notes: BENCHMARKS.md).
//
// It is kept as orgids is: Tx.Put moves a record's entry in the
// transaction that writes it, Tx.Delete drops it with the record, so an
// entry exists exactly while a record with that ShadowID does. A record
// that no longer decodes cannot say its id: its entry stays until the
// Open's pass (below) or the set-aside of the damaged record
// (dropIndexesOf) removes it, and a lookup reads the record and checks
// its ShadowID, so a stale entry names nothing. A release without the
// index (an upgrade, or a rollback and forward again) wrote records it
// does not name: every Open checks the index against the records in the
// pass that checks the takenby index (repairTakenIndex: one decoding of
// every record for both), adding what is missing and deleting what names
// no record with that id.

// shadowIDKey is the index key of message id under its copy's id sid.
func shadowIDKey(sid string, id ID) []byte {
	k := make([]byte, 0, len(sid)+9)
	k = append(append(k, sid...), 0)
	return append(k, id.Key()...)
}

// indexShadowID moves m's entry from what old (nil: none) had: written
// only when the id changed, so that the Put of a record whose copy stays
// where it was writes nothing here.
func (t *Tx) indexShadowID(old, m *Message) error {
	b := t.tx.Bucket(bucketShadowIDs)
	if b == nil { // a database opened for a restore check
		return nil
	}
	if old != nil && old.ShadowID == m.ShadowID {
		return nil
	}
	if old != nil && old.ShadowID != "" {
		if err := b.Delete(shadowIDKey(old.ShadowID, old.ID)); err != nil {
			return err
		}
	}
	if m.ShadowID == "" {
		return nil
	}
	return b.Put(shadowIDKey(m.ShadowID, m.ID), []byte{})
}

// unindexShadowID drops the entry of m (Tx.Delete).
func (t *Tx) unindexShadowID(m *Message) error {
	b := t.tx.Bucket(bucketShadowIDs)
	if b == nil || m.ShadowID == "" {
		return nil
	}
	return b.Delete(shadowIDKey(m.ShadowID, m.ID))
}

// byShadowID returns the records whose ShadowID is sid (a stale entry,
// or a record that does not decode, is passed over), in id order.
func (t *Tx) byShadowID(sid string) []*Message {
	b := t.tx.Bucket(bucketShadowIDs)
	if b == nil || sid == "" {
		return nil
	}
	var out []*Message
	pre := append([]byte(sid), 0)
	c := b.Cursor()
	for k, _ := c.Seek(pre); k != nil && bytes.HasPrefix(k, pre); k, _ = c.Next() {
		if len(k) != len(pre)+8 {
			continue
		}
		if m, err := t.Get(ID(beUint64(k[len(pre):]))); err == nil && m.ShadowID == sid {
			out = append(out, m)
		}
	}
	return out
}

// shadowIDRepair is the Open's check of the index (repairTakenIndex
// feeds it every record it decodes): see collects the key each record
// wants, finish sorts them and walks the index once beside them, adding
// the entries missing and deleting those naming no record with that id
// — one ordered pass over the index, not a lookup per record (the org
// ids of a real queue are random, so lookups would be too).
type shadowIDRepair struct {
	b    *bolt.Bucket
	want [][]byte
}

func newShadowIDRepair(tx *bolt.Tx) *shadowIDRepair {
	return &shadowIDRepair{b: tx.Bucket(bucketShadowIDs)}
}

func (r *shadowIDRepair) see(m *Message) {
	if r.b != nil && m.ShadowID != "" {
		r.want = append(r.want, shadowIDKey(m.ShadowID, m.ID))
	}
}

func (r *shadowIDRepair) finish() error {
	if r.b == nil {
		return nil
	}
	slices.SortFunc(r.want, bytes.Compare)
	var missing, extra [][]byte
	c := r.b.Cursor()
	k, _ := c.First()
	for i := 0; i < len(r.want) || k != nil; {
		switch {
		case k == nil || i < len(r.want) && bytes.Compare(r.want[i], k) < 0:
			if i == 0 || !bytes.Equal(r.want[i], r.want[i-1]) {
				missing = append(missing, r.want[i])
			}
			i++
		case i == len(r.want) || bytes.Compare(r.want[i], k) > 0:
			extra = append(extra, bytes.Clone(k))
			k, _ = c.Next()
		default: // agrees
			i++
			k, _ = c.Next()
		}
	}
	for _, k := range extra {
		if err := r.b.Delete(k); err != nil {
			return err
		}
	}
	for _, k := range missing {
		if err := r.b.Put(k, []byte{}); err != nil {
			return err
		}
	}
	return nil
}
