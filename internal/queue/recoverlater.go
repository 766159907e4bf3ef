package queue

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// A start on a full disk (rt17c F1). Recover's commit writes: the
// peer-wait run mark, each message that was Active at the stop made
// Ready (or Poison) with its crash count and repeat mark, early discards
// spent, held mail made due. On a full disk that commit fails with
// ENOSPC. Nothing of it is needed to keep what the database holds: the
// messages it would make Ready stay Active on disk — never claimed, so
// never attempted twice — and the rest only makes mail due sooner. So
// the server starts without it: receipts fail their commit as a running
// full server's do (452 4.3.1), the Ready mail is delivered (each
// removal frees pages bbolt reuses), and the run loop tries the
// recovery's commit again every recoveryRetry until it goes through.
// The retry recovers only the messages that were Active at the start
// (read once, before the scheduler ran): this run's own Active messages
// are in delivery. What a crash before that commit leaves is what the
// start found: the next start recovers the same messages.

// ErrRecoveryWaits: Recover could not commit for want of room; the
// scheduler tries it again once started (serve starts anyway).
var ErrRecoveryWaits = errors.New("the recovery of the messages in delivery at the last stop waits for room on the disk")

// RecoveryWaitsError is Recover's ErrRecoveryWaits: how many messages
// were in delivery at the last stop (0 after a clean stop: the commit
// that found no room had only the recovery's other work), and the
// commit's failure.
type RecoveryWaitsError struct {
	InDelivery int
	Err        error
}

func (e *RecoveryWaitsError) Error() string {
	if e.InDelivery == 0 {
		// After a clean stop: only the commit's other work waits.
		return fmt.Sprintf("the start's recovery commit waits for room on the disk (no message was in delivery at the last stop): %v", e.Err)
	}
	return fmt.Sprintf("%v (%d messages in delivery at the last stop): %v", ErrRecoveryWaits, e.InDelivery, e.Err)
}

func (e *RecoveryWaitsError) Is(target error) bool { return target == ErrRecoveryWaits }

func (e *RecoveryWaitsError) Unwrap() error { return e.Err }

// recoveryRetry is how often a recovery that found the disk full is
// tried again.
const recoveryRetry = 5 * time.Second

type recovery struct {
	mu      sync.Mutex
	begun   bool
	slots   peerWaitRead
	run     []byte
	ids     []ID // Active at the start; nil until read
	read    bool
	pending bool      // the commit failed for want of room
	last    time.Time // its last try
}

// begin reads the peer-wait slots and starts this run's slot file, the
// first time only (a retry must not start the file afresh under this
// run's own slots); it reports whether this is the first call.
func (r *recovery) begin(read func() (peerWaitRead, []byte)) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.begun {
		return false
	}
	r.begun = true
	r.slots, r.run = read()
	return true
}

// activeAtStart is the messages Active when Recover first ran, read in
// that first transaction (before the scheduler started) and kept.
func (r *recovery) activeAtStart(tx *Tx) []ID {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.read {
		r.ids, r.read = tx.ActiveIDs(), true
	}
	return r.ids
}

// inDelivery is how many messages were in delivery at the last stop
// (activeAtStart), 0 before they were read.
func (r *recovery) inDelivery() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ids)
}

func (r *recovery) wait(now time.Time) {
	r.mu.Lock()
	r.pending, r.last = true, now
	r.mu.Unlock()
}

func (r *recovery) done() {
	r.mu.Lock()
	r.pending = false
	r.mu.Unlock()
}

// recoveryWait is how long the run loop may sleep before the next try
// of a waiting recovery; 0: none waits.
func (q *Manager) recoveryWait(now time.Time) time.Duration {
	q.recovery.mu.Lock()
	defer q.recovery.mu.Unlock()
	if !q.recovery.pending {
		return 0
	}
	return max(q.recovery.last.Add(recoveryRetry).Sub(now), time.Millisecond)
}

// retryRecovery tries a waiting recovery again once recoveryRetry
// passed; the messages it makes Ready are due at once.
func (q *Manager) retryRecovery(ctx context.Context) {
	now := q.clk.Now()
	q.recovery.mu.Lock()
	due := q.recovery.pending && now.Sub(q.recovery.last) >= recoveryRetry
	q.recovery.mu.Unlock()
	if !due {
		return
	}
	recovered, poisoned, err := q.Recover(ctx)
	if err != nil {
		if !errors.Is(err, ErrRecoveryWaits) {
			q.recovery.wait(now) // another failure: tried again all the same
			q.log.Error("recovering the messages in delivery at the last stop failed; tried again", "err", err)
		}
		return
	}
	if q.recovery.inDelivery() == 0 {
		// After a clean stop, as the start said it (serve.go).
		q.log.Info("the start's recovery commit is committed (no message was in delivery at the last stop)")
		return
	}
	q.log.Info("the recovery of the messages in delivery at the last stop is committed: they are due now",
		"recovered", recovered, "poisoned", poisoned)
}
