package queue

import (
	"bytes"
	"context"
	"time"
)

// A pickup file is one submission: its key (package pickup: the file's
// path, inode, size, modification and birth times) is stored with the
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
// the scheduling loop, as the pickup ends' looks do (pickupfate.go), and
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

// prunePickupKeys starts a round of looks for the pickup submission keys
// recorded before cutoff (pruneBacklog, hourly).
func (q *Manager) prunePickupKeys(cutoff time.Time) {
	if q.cfg.PickupKeyGone == nil {
		return
	}
	pp := &q.pickupKeyPrune
	pp.once.Do(func() { pp.found = make(chan []pickupEnd, 1) })
	pp.cutoff, pp.rounds = cutoff, expiredRounds
	q.stepPickupKeyPrune()
}

// stepPickupKeyPrune is stepPickupPrune for the pickup submission keys:
// the last look's finding committed (a key and its name deleted only if
// the key is still the one looked at), the next batch of old keys handed
// to a look while the round has looks left; none started while one has
// not returned (a hung directory), and delivery goes on.
func (q *Manager) stepPickupKeyPrune() {
	pp := &q.pickupKeyPrune
	if pp.found == nil {
		return // no round yet
	}
	select {
	case drop := <-pp.found:
		if len(drop) > 0 {
			err := q.store.Update(context.Background(), func(tx *Tx) error {
				keys, names := tx.tx.Bucket(bucketSubmitKey), tx.tx.Bucket(bucketSubmitNames)
				if names == nil {
					return nil
				}
				for _, e := range drop {
					if !bytes.Equal(keys.Get(e.k), e.v) {
						continue // submitted again since the look: another record
					}
					if err := keys.Delete(e.k); err != nil {
						return err
					}
					if err := names.Delete(e.k); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				q.log.Error("pruning pickup submission keys failed; the next hour tries again", "err", err)
				pp.rounds = 0
			}
		}
	default:
	}
	if pp.busy.Load() {
		return // the last look has not returned (a hung directory: no other)
	}
	type look struct {
		e    pickupEnd // the key and its submitkeys value as read
		name string
	}
	var old []look
	for len(old) == 0 && pp.rounds > 0 {
		pp.rounds--
		end := false
		_ = q.store.View(func(tx *Tx) error {
			keys, names := tx.tx.Bucket(bucketSubmitKey), tx.tx.Bucket(bucketSubmitNames)
			if names == nil {
				end = true
				return nil
			}
			c := names.Cursor()
			k, v := c.First()
			if pp.after != nil {
				if k, v = c.Seek(pp.after); k != nil && bytes.Equal(k, pp.after) {
					k, v = c.Next()
				}
			}
			for scanned := 0; k != nil && scanned < expiredBatch; k, v = c.Next() {
				scanned++
				pp.after = bytes.Clone(k)
				kv := keys.Get(k)
				if len(kv) != 16 || getTime(kv[8:]).Before(pp.cutoff) {
					old = append(old, look{pickupEnd{bytes.Clone(k), bytes.Clone(kv)}, string(v)})
				}
			}
			end = k == nil
			return nil
		})
		if end {
			pp.after, pp.rounds = nil, 0 // the round reached the last key; the next starts from the first
		}
	}
	if len(old) == 0 {
		return
	}
	pp.busy.Store(true)
	gone := q.cfg.PickupKeyGone
	go func() {
		defer q.Kick() // the loop's next pass takes the finding
		defer pp.busy.Store(false)
		defer func() {
			if r := recover(); r != nil {
				q.log.Error("looking for pickup files panicked; their submission keys are kept", "panic", r)
			}
		}()
		var drop []pickupEnd
		for _, l := range old {
			if gone(l.name, string(l.e.k)) {
				drop = append(drop, l.e)
			}
		}
		select {
		case pp.found <- drop:
		default: // an earlier finding not taken yet: these are looked for again in a later round
		}
	}()
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
