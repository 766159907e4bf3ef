package queue

import (
	"context"
	"errors"
	"sync"
	"time"

	"umbra/internal/panicline"
)

// strandedRetry is how often the commits that end stranded attempts are
// tried again.
const strandedRetry = 5 * time.Second

// stranded holds the messages whose attempt ended without the commit
// that ends it and whose attempt handed nothing on that a repeat would
// duplicate: a requeue, a hold (every pending recipient in a suspended
// queue) or a move to the poison queue failed (a full disk, an I/O
// error), or the results' commit of an attempt that a waiting
// sender's refusal answered (every recipient refused). The results'
// commit of any other attempt is retried itself (pendingresults.go),
// never the attempt. Such a message is still Active in the database — in
// no time index, so never claimed — and used to stay so until the next
// start's Recover. The scheduler's loop now tries again every
// strandedRetry what Recover would do for it: Ready, due now, with the
// discards and takeovers kept aside while it was in flight applied
// (putLeavingTook). No crash is counted: umbra's own code did not crash.
// The message is marked (markRepeat), as at Recover, and the repeat is
// the event "repeat".
//
// A message whose attempt's end panicked is not stranded: the daemon
// crashes on purpose (panics.go) and Recover counts the crash.
type stranded struct {
	mu   sync.Mutex
	ids  map[ID]struct{}
	last time.Time // the last retry
	// errLog paces the ERROR of an ending commit that failed
	// (strandFailed) as pendingResults.errLog paces the results' one:
	// the first of an episode at once, the next at most once a minute
	// with the failures left out; the round's WARN counts the messages.
	// The episode ends only after a quiet period (panicline.Interval
	// with no line), not when the set is empty again: a flapping disk
	// logged one ERROR per round (poison45 item 2).
	errLog panicline.Gate
}

// strandFailed logs the failed ending commit (err) of message id's
// attempt, paced (stranded.errLog), and strands the message unless the
// store is closed (then the next start's Recover makes it due).
func (q *Manager) strandFailed(msg string, id ID, err error) {
	if errors.Is(err, ErrClosed) {
		q.log.Error(msg, "msg_id", id.String(), "err", err)
		return
	}
	q.strandedSet.mu.Lock()
	left, logged := q.strandedSet.errLog.Due(q.clk.Now())
	q.strandedSet.mu.Unlock()
	if logged {
		attrs := []any{"msg_id", id.String(), "err", err, "retry_in", strandedRetry}
		if left > 0 {
			attrs = append(attrs, "suppressed", left)
		}
		q.log.Error(msg, attrs...)
	}
	q.strand(id)
}

// strand records a message whose leaving commit failed.
func (q *Manager) strand(id ID) {
	q.strandedSet.mu.Lock()
	if q.strandedSet.ids == nil {
		q.strandedSet.ids = map[ID]struct{}{}
	}
	q.strandedSet.ids[id] = struct{}{}
	q.strandedSet.mu.Unlock()
	q.Kick()
}

// strandedWait is how long the scheduler's loop may sleep before the
// next retry of stranded messages; 0 with none.
func (q *Manager) strandedWait(now time.Time) time.Duration {
	q.strandedSet.mu.Lock()
	defer q.strandedSet.mu.Unlock()
	if len(q.strandedSet.ids) == 0 {
		return 0
	}
	return max(q.strandedSet.last.Add(strandedRetry).Sub(now), time.Millisecond)
}

// retryStranded makes the stranded messages Ready and due now, in one
// commit, when strandedRetry passed since the last try.
func (q *Manager) retryStranded() {
	now := q.clk.Now()
	q.strandedSet.mu.Lock()
	if len(q.strandedSet.ids) == 0 || now.Sub(q.strandedSet.last) < strandedRetry && !q.strandedSet.last.IsZero() {
		q.strandedSet.mu.Unlock()
		return
	}
	q.strandedSet.last = now
	ids := make([]ID, 0, len(q.strandedSet.ids))
	for id := range q.strandedSet.ids {
		ids = append(ids, id)
	}
	q.strandedSet.mu.Unlock()

	var back []*Message // made Ready
	var took []*Message
	var poisoned []*Message // crashed as often as PoisonThreshold
	var settled []ID        // Ready or gone: out of the set
	err := q.store.Update(context.Background(), func(tx *Tx) error {
		back, took, poisoned, settled = back[:0], took[:0], poisoned[:0], settled[:0]
		for _, id := range ids {
			m, err := tx.Get(id)
			if errors.Is(err, ErrNotFound) {
				settled = append(settled, id)
				continue
			}
			if err != nil {
				return err
			}
			if m.State != Active { // a commit of its own got through meanwhile
				settled = append(settled, id)
				continue
			}
			m.State, m.NextAttempt = Ready, now
			t, err := putLeavingTook(tx, m)
			if err != nil {
				return err
			}
			if err := tx.markRepeat(id); err != nil { // its lost results may have been a mailbox's (dumpster.go)
				return err
			}
			if t {
				took = append(took, m)
			}
			if m.State == Poison {
				poisoned = append(poisoned, m)
			} else {
				back = append(back, m)
			}
			settled = append(settled, id)
		}
		// As at Recover: the discards kept aside for copies the lost
		// results named are spent (earlyspent.go).
		lost := make(map[ID]bool, len(back)+len(poisoned))
		for _, m := range append(back, poisoned...) {
			lost[m.ID] = true
		}
		_, err := tx.dropSpentEarlyDiscards(lost)
		return err
	})
	if err != nil {
		if !errors.Is(err, ErrClosed) {
			q.log.Warn("messages whose attempt could not be committed are still in delivery; trying again",
				"messages", len(ids), "err", err, "retry_in", strandedRetry)
		}
		return
	}
	q.strandedSet.mu.Lock()
	for _, id := range settled {
		delete(q.strandedSet.ids, id)
	}
	q.strandedSet.mu.Unlock()
	for _, m := range poisoned {
		q.log.Warn("message moved to the poison queue", "msg_id", m.ID.String(), "reason", m.LastError)
		q.ev.Event("poison", m, nil, m.LastError)
	}
	for _, m := range took {
		q.trackTakeover(m)
	}
	for _, m := range back {
		q.log.Warn("message attempted again after its attempt's ending commit failed", "msg_id", m.ID.String())
		q.repeatEvents(m, "attempted again: the commit that ended its attempt failed")
	}
	if len(back) > 0 {
		q.Kick()
	}
}

// repeatEvents tracks a message attempted again: one event "repeat" per
// recipient still to deliver, with its queue, as the other delivery
// events (the metric's queue_type, the tracking line's queue and next
// hop); one for the message where none is left.
func (q *Manager) repeatEvents(m *Message, why string) {
	n := 0
	for i := range m.Rcpts {
		if rc := &m.Rcpts[i]; !rc.Status.Done() {
			q.ev.Event("repeat", m, rc, why)
			n++
		}
	}
	if n == 0 {
		q.ev.Event("repeat", m, nil, why)
	}
}
