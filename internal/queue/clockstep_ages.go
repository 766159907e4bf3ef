package queue

import (
	"bytes"
	"context"
	"time"
)

// followClockStepAges moves, by a step of the wall clock, the times that
// age the transport dumpster's copies (kept-at, in the keys of dumpster
// and dumpbodies) and the duplicate records (delivered-at, in the
// deliveredat keys and the delivered values), as followClockStep moves
// the messages' times: a step forward then neither evicts the dumpster's
// copies nor forgets final deliveries a step early (a mailbox failover's
// redelivery would find the copies gone, a resubmitted copy would be
// delivered twice), and a step back keeps them no longer than their
// bound. One batch per transaction; a crash in between leaves some
// records moved and the others not, each timed on one clock or the other
// — off by at most the step, as all were before.
func (q *Manager) followClockStepAges(step time.Duration) {
	for _, b := range []struct {
		what   string
		bucket []byte
		move   func(tx *Tx, old, new []byte) error
	}{
		{"dumpster", bucketDumpster, (*Tx).moveDumpsterBody},
		{"duplicate records", bucketDelivAt, (*Tx).moveDeliveredValue},
	} {
		var resume []byte
		for rounds := 0; rounds < 1<<20; rounds++ {
			var n int
			err := q.store.Update(context.Background(), func(tx *Tx) error {
				var err error
				resume, n, err = tx.shiftKeyTimes(b.bucket, resume, clockStepBatch, step, b.move)
				return err
			})
			if err != nil {
				q.log.Error("moving ages after a clock step failed", "records", b.what, "err", err)
				break
			}
			if n < clockStepBatch {
				break
			}
		}
	}
	q.followClockStepKept(step) // keptcopy.go: when a holder first answered a copy missing
}

// shiftKeyTimes moves up to limit keys of a bucket keyed database ‖ 0x00
// ‖ time (8, BE) ‖ rest to time+step, carrying their values, and calls
// move for what else follows the key. It walks against the direction of
// the step (from the last key for a step forward), so that a moved key
// is never met again; resume (nil: the first call) is the key to go on
// from, exclusive. A key whose new place is taken stays where it is.
func (t *Tx) shiftKeyTimes(bucket, resume []byte, limit int, step time.Duration,
	move func(tx *Tx, old, new []byte) error) (next []byte, n int, err error) {
	b := t.tx.Bucket(bucket)
	c := b.Cursor()
	var k []byte
	forward := step < 0
	switch {
	case resume == nil && forward:
		k, _ = c.First()
	case resume == nil:
		k, _ = c.Last()
	case forward:
		if k, _ = c.Seek(resume); k != nil && bytes.Equal(k, resume) {
			k, _ = c.Next()
		}
	default:
		if k, _ = c.Seek(resume); k == nil {
			k, _ = c.Last()
		} else {
			k, _ = c.Prev()
		}
	}
	var keys [][]byte
	for k != nil && len(keys) < limit {
		keys = append(keys, bytes.Clone(k))
		if forward {
			k, _ = c.Next()
		} else {
			k, _ = c.Prev()
		}
	}
	for _, old := range keys {
		i := bytes.IndexByte(old, 0)
		if i < 0 || len(old) < i+9 {
			continue // not a timed key: left as it is
		}
		at := getTime(old[i+1 : i+9])
		nk := append(append(bytes.Clone(old[:i+1]), putTime(at.Add(step))...), old[i+9:]...)
		if bytes.Equal(nk, old) || b.Get(nk) != nil {
			continue
		}
		v := bytes.Clone(b.Get(old))
		if err := b.Delete(old); err != nil {
			return nil, 0, err
		}
		if err := b.Put(nk, v); err != nil {
			return nil, 0, err
		}
		if err := move(t, old, nk); err != nil {
			return nil, 0, err
		}
	}
	if len(keys) > 0 {
		next = keys[len(keys)-1]
	}
	return next, len(keys), nil
}

// moveDumpsterBody moves a dumpster copy's body with its record.
func (t *Tx) moveDumpsterBody(old, nk []byte) error {
	bodies := t.tx.Bucket(bucketDumpBody)
	if err := t.moveRef(refDumpster, old, nk); err != nil { // spoolref.go
		return err
	}
	body := bytes.Clone(bodyValue(bodies, old))
	if body == nil {
		return nil
	}
	if err := deleteBodyValue(bodies, refDumpster, old); err != nil {
		return err
	}
	return putBodyValue(bodies, refDumpster, nk, body)
}

// moveDeliveredValue sets the delivered record's time to its index key's
// new time, so that RecordDelivered finds the index entry to replace.
func (t *Tx) moveDeliveredValue(old, nk []byte) error {
	i := bytes.IndexByte(nk, 0)
	k := append(bytes.Clone(nk[:i+1]), nk[i+9:]...) // database ‖ 0x00 ‖ hash
	b := t.tx.Bucket(bucketDelivered)
	if b.Get(k) == nil {
		return nil
	}
	return b.Put(k, bytes.Clone(nk[i+1:i+9]))
}
