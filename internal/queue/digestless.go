package queue

import (
	"context"
)

// Which primaries a completed session proved to be of a release that
// advertises no database digest (bucket digestless, schema.go; package
// shadow earlierrelease.go, shadow30 item 3):
//
//	digestless  primary name → the database id its XSHADOW reply carried
//
// written by the first such session (a commit of its own, only on a
// change) and deleted by a completed session that advertised a digest.
// It holds for that database id only: a primary whose stored id is
// another (a new database, SR-7) is not proved so. Not in allBuckets:
// made by the first record, so a database that never met such a
// primary keeps the layout it had. Crash: a record whose commit did not
// return is not there; the next completed session writes it again — no
// message's state depends on it, only how a refusal without a digest is
// judged meanwhile (as before this record: a failed heartbeat). A
// release without it does not open the bucket: its records wait unread.

// NoteDigestless records (digestless) that a completed session with
// primary, whose XSHADOW reply carried dbID, advertised no database
// digest, or forgets it (not digestless), in one commit that returns once
// durable; nothing is written when the record already says so.
func (q *Manager) NoteDigestless(primary, dbID string, digestless bool) error {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	key := []byte(primary)
	same := false
	if err := q.store.View(func(tx *Tx) error {
		b := tx.tx.Bucket(bucketDigestless)
		v := []byte(nil)
		if b != nil {
			v = b.Get(key)
		}
		same = digestless && v != nil && string(v) == dbID || !digestless && v == nil
		return nil
	}); err != nil || same {
		return err
	}
	return q.store.Update(context.Background(), func(tx *Tx) error {
		b := tx.tx.Bucket(bucketDigestless)
		if !digestless {
			if b == nil {
				return nil
			}
			return b.Delete(key)
		}
		if b == nil {
			var err error
			if b, err = tx.tx.CreateBucket(bucketDigestless); err != nil {
				return err
			}
		}
		return b.Put(key, []byte(dbID))
	})
}

// Digestless reports whether primary was proved to advertise no
// database digest (NoteDigestless) for the database id stored for it
// now.
func (q *Manager) Digestless(primary string) (bool, error) {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	ok := false
	err := q.store.View(func(tx *Tx) error {
		b := tx.tx.Bucket(bucketDigestless)
		if b == nil {
			return nil
		}
		v := b.Get([]byte(primary))
		if v == nil {
			return nil
		}
		p, err := tx.Peer(primary)
		ok = err == nil && p != nil && p.DatabaseID != "" && p.DatabaseID == string(v)
		return err
	})
	return ok, err
}
