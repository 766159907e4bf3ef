package queue

import (
	"errors"
	"sync"
	"time"
)

// ErrQuarantineFull refuses a message with a quarantine verdict while
// the quarantine is at or over its bound (SetQuarantineBound): the
// session answers 452 4.3.1, a temporary refusal, so a false positive
// is retried by its sender; nothing is stored, never accepted and then
// dropped. Mail without a verdict is never refused for it: a spam flood
// fills the quarantine, not the transport database (whose back-pressure
// would refuse all mail).
var ErrQuarantineFull = errors.New("quarantine full")

// quarCapRecount bounds how stale the cached quarantine totals may be
// when no release, deletion or expiry invalidated them.
const quarCapRecount = time.Minute

// quarCap holds the quarantine's bound and cached totals. Totals grow
// with each quarantined submission and are recounted (one scan of the
// quarantine) after a message left it, or after quarCapRecount: never a
// scan per message.
type quarCap struct {
	mu       sync.Mutex
	maxBytes int64 // 0: no bound
	maxMsgs  int   // 0: no bound
	valid    bool
	counted  time.Time
	n        int
	bytes    int64
	refused  uint64
	logged   time.Time // last warning: at most one a minute
	quiet    uint64    // refusals since the last warning
}

// SetQuarantineBound sets the quarantine's bound in bytes and messages
// (0: none); reload applies it to the next submission.
func (q *Manager) SetQuarantineBound(maxBytes int64, maxMessages int) {
	q.qcap.mu.Lock()
	defer q.qcap.mu.Unlock()
	q.qcap.maxBytes, q.qcap.maxMsgs = max(maxBytes, 0), max(maxMessages, 0)
}

// QuarantineRefused counts the messages refused since start because the
// quarantine was full (metric umbra_quarantine_full_refused_total).
func (q *Manager) QuarantineRefused() uint64 {
	q.qcap.mu.Lock()
	defer q.qcap.mu.Unlock()
	return q.qcap.refused
}

// quarantineRoom answers ErrQuarantineFull when the quarantine is at or
// over its bound.
func (q *Manager) quarantineRoom() error {
	c := &q.qcap
	c.mu.Lock()
	if c.maxBytes == 0 && c.maxMsgs == 0 {
		c.mu.Unlock()
		return nil
	}
	now := q.clk.Now()
	if !c.valid || now.Sub(c.counted) >= quarCapRecount || now.Before(c.counted) {
		c.mu.Unlock()
		n, b := q.QuarantineStats() // outside the lock: a database read
		c.mu.Lock()
		c.n, c.bytes, c.valid, c.counted = n, b, true, now
	}
	defer c.mu.Unlock()
	if (c.maxBytes > 0 && c.bytes >= c.maxBytes) || (c.maxMsgs > 0 && c.n >= c.maxMsgs) {
		c.refused++
		c.quiet++
		if c.logged.IsZero() || now.Sub(c.logged) >= time.Minute || now.Before(c.logged) {
			q.log.Warn("quarantine full: quarantined mail refused with 452 4.3.1", "messages", c.n, "bytes", c.bytes,
				"max_messages", c.maxMsgs, "max_bytes", c.maxBytes, "refused", c.quiet)
			c.logged, c.quiet = now, 0
		}
		return ErrQuarantineFull
	}
	return nil
}

// quarantineAdded counts a quarantined submission in the cached totals.
func (q *Manager) quarantineAdded(size int64) {
	q.qcap.mu.Lock()
	defer q.qcap.mu.Unlock()
	q.qcap.n++
	q.qcap.bytes += size
}

// quarantineLeft invalidates the cached totals: a message left the
// quarantine (release, deletion, expiry); the next check recounts.
func (q *Manager) quarantineLeft() {
	q.qcap.mu.Lock()
	defer q.qcap.mu.Unlock()
	q.qcap.valid = false
}
