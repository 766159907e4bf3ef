package queue

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// The pickup ends (pickupfate.go) and the pickup submission keys
// (pickupkeys.go) are both kept past message_expiration while the pickup
// file they stand for may still be there, and both are pruned by the
// same round of looks at the pickup directory (pickupPrune); what
// differs — the bucket walked, what is old, what is asked of the
// directory, what is deleted — is the pickupPruned each is given.
//
// The pickup directory is looked at off the scheduling loop: a stat of
// a directory on a hard NFS mount whose server went away blocks in the
// kernel, and the loop that claims every due message must not wait on
// it. The hourly pass (prunePickup) gives the round up to expiredRounds
// looks; each pass of the loop (stepPickupPrune) commits what the last
// look found gone (a record is deleted only if it is still the one
// looked at) and hands the old records of the next batch of at most
// expiredBatch keys, from where the last stopped, to the next look — as
// many an hour as the synchronous pruning did, so no pickup rate makes
// them grow without bound. While a look has not returned (a hung
// directory) no other is started and nothing is pruned, and delivery
// goes on.

// pickupEnd is one record looked at: its key and value as read.
type pickupEnd struct{ k, v []byte }

// pickupLook is one old record handed to a look: the record as read and
// the pickup file name it stands for (NAME.eml), if its value does not
// hold it.
type pickupLook struct {
	e    pickupEnd
	name string
}

// pickupPruned is what one bucket's pruning (pickupPrune) knows of it.
type pickupPruned struct {
	what   string // for the log: "pickup ends", "pickup submission keys"
	bucket []byte // the bucket a round walks
	// old says whether the record of key k (value v in bucket) was made
	// before cutoff, and what a look is given for it.
	old func(tx *Tx, k, v []byte, cutoff time.Time) (pickupLook, bool)
	// held, when set, is the messages a record of another bucket still
	// stands for, whose records here are kept (heldBy says which message
	// a look's record is of). Read by the look, off the scheduling loop,
	// once per round: a set read earlier in the round only keeps more,
	// since what it is read from only loses entries for old messages.
	held   func(tx *Tx) map[ID]bool
	heldBy func(l pickupLook) (ID, bool)
	// gone looks at the pickup directory (off the scheduling loop):
	// whether the record's file is surely gone. Nil: every record is
	// kept (no way to look was configured).
	gone func(l pickupLook) bool
	// forget deletes e, found gone, only if its record is still the one
	// looked at (bucket is there).
	forget func(tx *Tx, e pickupEnd) error
}

// pickupPrune is one bucket's pruning state (prunePickup); all but busy
// and found are the scheduling loop's only.
type pickupPrune struct {
	of     pickupPruned // set by NewManager, never changed
	cutoff time.Time    // the round's: records made before it are old
	rounds int          // looks the round has left
	once   sync.Once
	busy   atomic.Bool                 // a look at the pickup directory runs
	heldIn atomic.Pointer[map[ID]bool] // the round's held set, read by its first look (nil: not yet)
	found  chan []pickupEnd            // what the last look found gone
	after  []byte                      // the last key handed to a look (the scheduling loop's only)
}

// prunePickup starts a round of looks for pp's records made before
// cutoff (pruneBacklog, hourly).
func (q *Manager) prunePickup(pp *pickupPrune, cutoff time.Time) {
	if pp.of.gone == nil {
		return
	}
	pp.once.Do(func() { pp.found = make(chan []pickupEnd, 1) })
	pp.cutoff, pp.rounds = cutoff, expiredRounds
	pp.heldIn.Store(nil)
	q.stepPickupPrune(pp)
}

// stepPickupPrune is one step of pp's pruning, on the scheduling loop
// (prunePickup): the last look's finding committed, the next look
// started while the round has looks left; none started while one has
// not returned (a hung directory), and delivery goes on.
func (q *Manager) stepPickupPrune(pp *pickupPrune) {
	if pp.found == nil {
		return // no round yet
	}
	select {
	case drop := <-pp.found:
		if len(drop) > 0 {
			err := q.store.Update(context.Background(), func(tx *Tx) error {
				if tx.tx.Bucket(pp.of.bucket) == nil {
					return nil
				}
				for _, e := range drop {
					if err := pp.of.forget(tx, e); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				q.log.Error("pruning "+pp.of.what+" failed; the next hour tries again", "err", err)
				pp.rounds = 0
			}
		}
	default:
	}
	if pp.busy.Load() {
		return // the last look has not returned (a hung directory: no other)
	}
	var old []pickupLook
	for len(old) == 0 && pp.rounds > 0 {
		pp.rounds--
		end := false
		_ = q.store.View(func(tx *Tx) error {
			b := tx.tx.Bucket(pp.of.bucket)
			if b == nil {
				end = true
				return nil
			}
			c := b.Cursor()
			k, v := c.First()
			if pp.after != nil {
				if k, v = c.Seek(pp.after); k != nil && bytes.Equal(k, pp.after) {
					k, v = c.Next()
				}
			}
			for scanned := 0; k != nil && scanned < expiredBatch; k, v = c.Next() {
				scanned++
				pp.after = bytes.Clone(k)
				if l, ok := pp.of.old(tx, k, v, pp.cutoff); ok {
					old = append(old, l)
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
	gone := pp.of.gone
	go func() {
		defer q.Kick() // the loop's next pass takes the finding
		defer pp.busy.Store(false)
		defer func() {
			if r := recover(); r != nil {
				q.log.Error("looking for pickup files panicked; their "+pp.of.what+" are kept", "panic", r)
			}
		}()
		var held map[ID]bool
		if pp.of.held != nil {
			if h := pp.heldIn.Load(); h != nil {
				held = *h
			} else {
				_ = q.store.View(func(tx *Tx) error {
					held = pp.of.held(tx)
					return nil
				})
				if held == nil {
					held = map[ID]bool{}
				}
				pp.heldIn.Store(&held)
			}
		}
		var drop []pickupEnd
		for _, l := range old {
			if held != nil {
				if id, ok := pp.of.heldBy(l); ok && held[id] {
					continue
				}
			}
			if gone(l) {
				drop = append(drop, l.e)
			}
		}
		select {
		case pp.found <- drop:
		default: // an earlier finding not taken yet: these are looked for again in a later round
		}
	}()
}
