package queue

import (
	"bytes"
	"time"
)

// A pickup file is one submission: its key (package pickup: the file's
// path, inode, size, modification and birth times, content) is stored with the
// message in the commit
// that queues it (Manager.SubmitKeyed), so that the same file offered
// again — a crash, a failed rename to NAME.<id>.queued — queues
// nothing. The key was pruned after message_expiration like every other;
// an unmarked file that lingered longer (a read-only pickup directory, a
// move that hung) was then submitted again at the next scan: its message
// twice. So a pickup submission's key names its file (submitnames, in
// the same commit) and is kept past message_expiration while that file
// may still be there: the hourly pruning leaves such a key to the looks
// here, which ask the pickup directory (ManagerConfig.PickupKeyGone) off
// the scheduling loop, as the pickup ends' looks do (pickupprune.go), and
// forget a key only once its file is surely gone or is another drop.
// Without PickupKeyGone every such key is kept (a server whose pickup
// was turned off makes no new ones).

// putSubmitName records that the submission key names the pickup file
// name (NAME.eml). The first one makes the bucket (schema.go).
func (t *Tx) putSubmitName(key, name string) error {
	b, err := t.tx.CreateBucketIfNotExists(bucketSubmitNames)
	if err != nil {
		return err
	}
	return b.Put([]byte(key), []byte(name))
}

// pickupKeysPruned is the pruning of the pickup submission keys
// (pickupprune.go): the round walks the keys that name their file
// (submitnames); a key recorded before the cutoff, or whose value cannot
// be read, is forgotten, with its name, once PickupKeyGone says its file
// is surely gone or is another drop.
func pickupKeysPruned(keyGone func(name, key string) bool) pickupPruned {
	p := pickupPruned{
		what:   "pickup submission keys",
		bucket: bucketSubmitNames,
		old: func(tx *Tx, k, v []byte, cutoff time.Time) (pickupLook, bool) {
			kv := tx.tx.Bucket(bucketSubmitKey).Get(k)
			if len(kv) != 16 || getTime(kv[8:]).Before(cutoff) {
				// the key and its submitkeys value as read, the name it names
				return pickupLook{pickupEnd{bytes.Clone(k), bytes.Clone(kv)}, string(v)}, true
			}
			return pickupLook{}, false
		},
		forget: func(tx *Tx, e pickupEnd) error {
			keys := tx.tx.Bucket(bucketSubmitKey)
			if !bytes.Equal(keys.Get(e.k), e.v) {
				return nil // submitted again since the look: another record
			}
			if err := keys.Delete(e.k); err != nil {
				return err
			}
			return tx.tx.Bucket(bucketSubmitNames).Delete(e.k)
		},
	}
	if keyGone != nil {
		p.gone = func(l pickupLook) bool { return keyGone(l.name, string(l.e.k)) }
	}
	return p
}

// pickupKeyHolds is the messages whose pickup submission key is still
// kept because it names its file (submitnames): an unmarked NAME.eml
// lingering after its message was handed on (pickupEndsPruned keeps
// their ends as long).
func pickupKeyHolds(tx *Tx) map[ID]bool {
	names := tx.tx.Bucket(bucketSubmitNames)
	keys := tx.tx.Bucket(bucketSubmitKey)
	if names == nil || keys == nil {
		return nil
	}
	held := map[ID]bool{}
	_ = names.ForEach(func(k, _ []byte) error {
		if v := keys.Get(k); len(v) == 16 {
			held[ID(beUint64(v))] = true
		}
		return nil
	})
	return held
}

// SubmittedKey returns the message a keyed submission made, if key was
// submitted before (Manager.SubmitKeyed), and stores nothing: package
// pickup asks it for the key a file had under an earlier key rule, so
// that a file left unmarked across an upgrade (its rename to .queued
// failed, a crash before it) is found submitted, never queued twice.
func (q *Manager) SubmittedKey(key string) (id ID, ok bool) {
	_ = q.store.View(func(tx *Tx) error {
		id, ok = tx.SubmitKey(key)
		return nil
	})
	return id, ok
}

// SubmittedKeyAt is SubmittedKey with the time the key was stored:
// package pickup accepts a key of the form path, inode, size and mtime
// (an earlier build's) only for a file born no later than that, since a
// new file on a reused inode can match it.
func (q *Manager) SubmittedKeyAt(key string) (id ID, at time.Time, ok bool) {
	_ = q.store.View(func(tx *Tx) error {
		v := tx.tx.Bucket(bucketSubmitKey).Get([]byte(key))
		if len(v) == 16 {
			id, at, ok = ID(beUint64(v)), getTime(v[8:]), true
		}
		return nil
	})
	return id, at, ok
}
