package queue

import (
	"bytes"
	"context"
	"time"
)

// clockStepThreshold: a smaller difference between the wall and the
// monotonic clock is scheduling noise, not a step.
const clockStepThreshold = time.Minute

// clockStepBatch bounds one transaction of followClockStep.
const clockStepBatch = 1000

// followClockStep moves the stored times of every message that is not in
// delivery — its arrival (expiry, delay notices), a Ready message's
// next attempt and a held one's start of the hold (heldage.go) — by
// step, a step of the wall clock the scheduler found
// (clock.StepDetector), so that the real time a message waits for its
// retry or its expiry is what it was: a step forward neither retries
// every message due within it at once nor expires them early, a step
// back delays nothing. A message in delivery is left to its attempt's
// commit (one writer), which times it on the stepped clock. One batch
// per transaction; a crash in between leaves some messages moved and the
// rest not, each still timed on one clock or the other. A message queued
// Ready on the stepped clock before the scheduler noticed the step (a
// Submit with the active set full) is moved too: its retry and expiry are
// off by the step, as every message's was before this. A suspended
// machine (the monotonic clock stops, the wall clock goes on) looks like
// a step forward: the waits are kept as if no time had passed.
func (q *Manager) followClockStep(step time.Duration) {
	q.log.Warn("the wall clock stepped; the queue's retry and expiry times follow", "step", step)
	defer q.followClockStepAges(step) // clockstep_ages.go: dumpster and duplicate records
	var from []byte
	for rounds := 0; rounds < 1<<20; rounds++ {
		var next []byte
		var n int
		err := q.store.Update(context.Background(), func(tx *Tx) error {
			var err error
			next, n, err = tx.shiftTimes(from, clockStepBatch, step)
			return err
		})
		if err != nil {
			q.log.Error("moving the queue's times after a clock step failed", "err", err)
			return
		}
		if n < clockStepBatch {
			return
		}
		from = next
	}
}

// shiftTimes moves the times of up to limit messages, from the key from
// on (nil: the first), and returns the key to go on from.
func (t *Tx) shiftTimes(from []byte, limit int, step time.Duration) (next []byte, n int, err error) {
	var ms []*Message
	c := t.messages.Cursor()
	k, v := c.First()
	if from != nil {
		k, v = c.Seek(from)
	}
	for ; k != nil && n < limit; k, v = c.Next() {
		n++
		next = append(bytes.Clone(k), 0) // seeks the key after k
		m, err := decodeMessage(v)
		if err != nil || m.State == Active {
			continue // a damaged record is the operator's; Active is its attempt's
		}
		if !m.Arrived.IsZero() {
			m.Arrived = m.Arrived.Add(step)
		}
		t.readReceived(m) // received.go: the kept receipt moves likewise
		if !m.Received.IsZero() {
			m.Received = m.Received.Add(step)
		}
		if m.State == Ready {
			m.NextAttempt = m.NextAttempt.Add(step)
		}
		ms = append(ms, m)
	}
	for _, m := range ms {
		if err := t.Put(m); err != nil {
			return nil, 0, err
		}
		// The start of a hold moves with the arrival (heldage.go): the
		// age the resume gives back is the one the message had then.
		if err := t.shiftHeld(m.ID, step); err != nil {
			return nil, 0, err
		}
	}
	return next, n, nil
}
