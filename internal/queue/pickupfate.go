package queue

import (
	"bytes"
	"errors"
	"time"
)

// PickupFate is what this database knows of the message a pickup file
// marked NAME.<id>.queued names (package pickup, SR-12): whether the file
// may wait for it, may go, or is the message's only copy.
type PickupFate uint8

const (
	// PickupUnknown: this database holds no record of that message — a
	// new database, another server's, one restored from a backup older
	// than the message, the id was given to another message, or its
	// record was set aside as damaged and given to no holder. The file
	// is the only copy: submitted again, never deleted.
	PickupUnknown PickupFate = iota
	// PickupQueued: the message is queued here (WaitHandedOn), or its
	// record cannot be read (a newer release's: the file waits, it is
	// not sent twice).
	PickupQueued
	// PickupEnded: the message's end is recorded here (its record went
	// in the commit that wrote the end, Tx.Delete): the file may go.
	PickupEnded
)

// PickupFate says what this database knows of message id, submitted
// from the pickup file named name (NAME.eml: the message's Helo). A
// record of that id that is no pickup message of that name is another
// message: PickupUnknown, so that a file is never removed for, nor
// attached to, a message it is not.
func (q *Manager) PickupFate(id ID, name string) PickupFate {
	fate := PickupUnknown
	_ = q.store.View(func(tx *Tx) error {
		m, err := tx.Get(id)
		switch {
		case err == nil:
			if m.Connector == pickupConnector && m.Helo == name {
				fate = PickupQueued
			}
			return nil
		case !errors.Is(err, ErrNotFound):
			fate = PickupQueued // a record that cannot be read: the file waits, it is not sent twice
			return nil
		}
		if d, ok := tx.Damaged(id); ok {
			// Set aside as damaged: nothing of it is delivered here (its
			// envelope is not known), so the file is its only copy —
			// unless the commit that set it aside gave it to a holder of
			// a sound shadow copy, which delivers that.
			if d.GivenTo != "" {
				fate = PickupEnded
			}
			return nil
		}
		if b := tx.tx.Bucket(bucketPickupEnds); b != nil {
			if v := b.Get(id.Key()); len(v) >= 8 && bytes.Equal(v[8:], []byte(name)) {
				fate = PickupEnded
			}
		}
		return nil
	})
	return fate
}

// pickupConnector is the Connector of a message submitted from the
// pickup directory (package pickup).
const pickupConnector = "pickup"

// notePickupEnd records, in the commit that removes a pickup message's
// record (Tx.Delete), that its end is recorded here: a NAME.<id>.queued
// file left by a crash before its removal may then go (PickupFate).
func (t *Tx) notePickupEnd(m *Message) error {
	if m == nil || m.Connector != pickupConnector {
		return nil
	}
	if !t.tx.Writable() {
		return nil
	}
	b, err := t.tx.CreateBucketIfNotExists(bucketPickupEnds) // the first end makes it (schema.go)
	if err != nil {
		return err
	}
	return b.Put(m.ID.Key(), append(putTime(t.now()), m.Helo...))
}

// pickupEndsPruned is the pruning of the pickup ends (pickupprune.go):
// an end recorded before the cutoff is forgotten once its file
// NAME.<id>.queued is gone (ManagerConfig.PickupFileGone). An end whose
// file is still there is kept however old it is: a crash between the
// message's end and the file's removal, then a downtime longer than
// message_expiration, must not make the next start submit the file
// again. Without PickupFileGone every end is kept (a server whose pickup
// was turned off makes no new ones).
func pickupEndsPruned(fileGone func(id ID, name string) bool) pickupPruned {
	p := pickupPruned{
		what:   "pickup ends",
		bucket: bucketPickupEnds,
		// An end whose message's submission key is kept (its unmarked
		// NAME.eml lingers: pickupKeyHolds) is kept as long: the file,
		// once the directory takes renames again, is found by its key,
		// marked, and asks for its message's fate — unknown, it would be
		// given back and sent a second time.
		held: pickupKeyHolds,
		heldBy: func(l pickupLook) (ID, bool) {
			if len(l.e.k) != 8 {
				return 0, false
			}
			return ID(beUint64(l.e.k)), true
		},
		old: func(_ *Tx, k, v []byte, cutoff time.Time) (pickupLook, bool) {
			if len(v) < 8 || int64(beUint64(v)) < nanos(cutoff) {
				return pickupLook{e: pickupEnd{bytes.Clone(k), bytes.Clone(v)}}, true
			}
			return pickupLook{}, false
		},
		forget: func(tx *Tx, e pickupEnd) error {
			b := tx.tx.Bucket(bucketPickupEnds)
			if !bytes.Equal(b.Get(e.k), e.v) {
				return nil // not the end looked at: kept
			}
			return b.Delete(e.k)
		},
	}
	if fileGone != nil {
		p.gone = func(l pickupLook) bool {
			e := l.e
			return len(e.k) != 8 || len(e.v) < 8 || fileGone(ID(beUint64(e.k)), string(e.v[8:]))
		}
	}
	return p
}
