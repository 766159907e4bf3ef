package queue

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
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

// prunePickupEnds forgets the pickup ends recorded before cutoff whose
// file NAME.<id>.queued is gone (ManagerConfig.PickupFileGone). An end
// whose file is still there is kept however old it is: a crash between
// the message's end and the file's removal, then a downtime longer than
// message_expiration, must not make the next start submit the file
// again. Without PickupFileGone every end is kept (a server whose pickup
// was turned off makes no new ones).
//
// The pickup directory is looked at off the scheduling loop: a stat of
// a directory on a hard NFS mount whose server went away blocks in the
// kernel, and the loop that claims every due message must not wait on
// it. The hourly pass (this) gives the round up to expiredRounds looks;
// each pass of the loop (stepPickupPrune) commits what the last look
// found gone (an end is deleted only if it is still the one looked at)
// and hands the old ends of the next batch of at most expiredBatch keys,
// from where the last stopped, to the next look — as many an hour as the
// synchronous pruning did, so no pickup rate makes the ends grow without
// bound. While a look has not returned (a hung directory) no other is
// started and nothing is pruned, and delivery goes on.
func (q *Manager) prunePickupEnds(cutoff time.Time) {
	if q.cfg.PickupFileGone == nil {
		return
	}
	pp := &q.pickupPrune
	pp.once.Do(func() { pp.found = make(chan []pickupEnd, 1) })
	pp.cutoff, pp.rounds = cutoff, expiredRounds
	q.stepPickupPrune()
}

// stepPickupPrune is one step of the pickup ends' pruning, on the
// scheduling loop (prunePickupEnds): the last look's finding committed,
// the next look started while the round has looks left.
func (q *Manager) stepPickupPrune() {
	pp := &q.pickupPrune
	if pp.found == nil {
		return // no round yet
	}
	select {
	case drop := <-pp.found:
		if len(drop) > 0 {
			err := q.store.Update(context.Background(), func(tx *Tx) error {
				b := tx.tx.Bucket(bucketPickupEnds)
				if b == nil {
					return nil
				}
				for _, e := range drop {
					if bytes.Equal(b.Get(e.k), e.v) {
						if err := b.Delete(e.k); err != nil {
							return err
						}
					}
				}
				return nil
			})
			if err != nil {
				q.log.Error("pruning pickup ends failed; the next hour tries again", "err", err)
				pp.rounds = 0
			}
		}
	default:
	}
	if pp.busy.Load() {
		return // the last look has not returned (a hung directory: no other)
	}
	var old []pickupEnd
	for len(old) == 0 && pp.rounds > 0 {
		pp.rounds--
		end := false
		_ = q.store.View(func(tx *Tx) error {
			b := tx.tx.Bucket(bucketPickupEnds)
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
				if len(v) < 8 || int64(beUint64(v)) < nanos(pp.cutoff) {
					old = append(old, pickupEnd{bytes.Clone(k), bytes.Clone(v)})
				}
			}
			end = k == nil
			return nil
		})
		if end {
			pp.after, pp.rounds = nil, 0 // the round reached the last end; the next starts from the first
		}
	}
	if len(old) == 0 {
		return
	}
	pp.busy.Store(true)
	gone := q.cfg.PickupFileGone
	go func() {
		defer q.Kick() // the loop's next pass takes the finding
		defer pp.busy.Store(false)
		defer func() {
			if r := recover(); r != nil {
				q.log.Error("looking for pickup files panicked; their ends are kept", "panic", r)
			}
		}()
		var drop []pickupEnd
		for _, e := range old {
			if len(e.k) != 8 || len(e.v) < 8 || gone(ID(beUint64(e.k)), string(e.v[8:])) {
				drop = append(drop, e)
			}
		}
		select {
		case pp.found <- drop:
		default: // an earlier finding not taken yet: these are looked for again in a later round
		}
	}()
}

// pickupEnd is one recorded pickup end: its key and value as read.
type pickupEnd struct{ k, v []byte }

// pickupPrune is the pickup ends' pruning state (prunePickupEnds); all
// but busy and found are the scheduling loop's only.
type pickupPrune struct {
	cutoff time.Time // the round's: ends recorded before it are old
	rounds int       // looks the round has left
	once   sync.Once
	busy   atomic.Bool      // a look at the pickup directory runs
	found  chan []pickupEnd // what the last look found gone
	after  []byte           // the last key handed to a look (the scheduling loop's only)
}
