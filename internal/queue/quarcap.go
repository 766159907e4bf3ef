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
// when no commit that took a record out of the quarantine invalidated
// them (Tx.quarantineMoved).
const quarCapRecount = time.Minute

// quarCap holds the quarantine's bound and cached totals. The totals
// are those of the committed database: grown by the commit that stores
// a quarantined message (its transaction's commit hook, before the next
// commit runs) and recounted (one scan of the quarantine) inside the
// write transaction of a quarantined submission after a message left
// the quarantine, or after quarCapRecount: never a scan per message.
// The check that refuses is made in that same transaction (roomInTx),
// against the totals plus what the transaction stored already, so
// concurrent sessions cannot each find room before any of them is
// stored: the bound is exact. A check before the transaction
// (quarantineRoom) refuses early, on totals that can only be too high
// (a leave not yet counted), never too low.
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

// quarantineRoom answers ErrQuarantineFull when the cached totals are
// at or over the bound: the early refusal, before anything is written.
// Totals not known (or stale) refuse nothing here; roomInTx decides.
func (q *Manager) quarantineRoom() error {
	c := &q.qcap
	c.mu.Lock()
	defer c.mu.Unlock()
	now := q.clk.Now()
	if !c.fresh(now) || !c.over(0, 0) {
		return nil
	}
	q.refuseFull(now, c.n, c.bytes)
	return ErrQuarantineFull
}

// fresh says whether the cached totals may be used at now. Called with
// c.mu held.
func (c *quarCap) fresh(now time.Time) bool {
	return c.valid && now.Sub(c.counted) < quarCapRecount && !now.Before(c.counted)
}

// over says whether the totals plus n messages of b bytes are at or
// over the bound. Called with c.mu held.
func (c *quarCap) over(n int, b int64) bool {
	return (c.maxBytes > 0 && c.bytes+b >= c.maxBytes) || (c.maxMsgs > 0 && c.n+n >= c.maxMsgs)
}

// refuseFull counts a refusal and warns at most once a minute. Called
// with q.qcap.mu held.
func (q *Manager) refuseFull(now time.Time, n int, b int64) {
	c := &q.qcap
	c.refused++
	c.quiet++
	if c.logged.IsZero() || now.Sub(c.logged) >= time.Minute || now.Before(c.logged) {
		q.log.Warn("quarantine full: quarantined mail refused with 452 4.3.1", "messages", n, "bytes", b,
			"max_messages", c.maxMsgs, "max_bytes", c.maxBytes, "refused", c.quiet)
		c.logged, c.quiet = now, 0
	}
}

// quarantineFull counts a refusal of roomInTx, once the submission's
// commit answered it.
func (q *Manager) quarantineFull() {
	q.qcap.mu.Lock()
	defer q.qcap.mu.Unlock()
	q.refuseFull(q.clk.Now(), q.qcap.n, q.qcap.bytes)
}

// quarantineTotals counts the quarantined messages and their bytes as
// tx sees them.
func quarantineTotals(tx *Tx) (n int, size int64) {
	for _, id := range tx.InQueue(QueueQuarantine, 1<<31-1) {
		if m, err := tx.Get(id); err == nil {
			n++
			size += m.Size
		}
	}
	return n, size
}

// roomInTx is the bound's check in the transaction that stores a
// quarantined message of size bytes: ErrQuarantineFull when the
// committed totals and what tx stored in the quarantine already are at
// or over the bound; otherwise the message counts in tx, and the
// totals grow by tx's messages when it commits. Commits run one at a
// time and the hook runs before the next one, so every transaction
// checks against every message committed before it.
func (q *Manager) roomInTx(tx *Tx, size int64) error {
	c := &q.qcap
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.maxBytes == 0 && c.maxMsgs == 0 {
		// No bound: nothing to check, nothing counted (no scan in the
		// commit); a bound set later counts at its first check.
		c.valid = false
		return nil
	}
	now := q.clk.Now()
	if !c.fresh(now) {
		n, b := quarantineTotals(tx) // includes what tx stored already
		c.n, c.bytes, c.valid, c.counted = n-tx.quarN, b-tx.quarBytes, true, now
	}
	if c.over(tx.quarN, tx.quarBytes) {
		return ErrQuarantineFull // counted by the submission (quarantineFull): a batch that fails runs each writer again
	}
	if tx.quarN == 0 && tx.quarBytes == 0 {
		tx.tx.OnCommit(func() { q.quarantineAdded(tx.quarN, tx.quarBytes) })
	}
	tx.quarN++
	tx.quarBytes += size
	return nil
}

// quarantineAdded counts the quarantined messages a commit stored in
// the cached totals.
func (q *Manager) quarantineAdded(n int, size int64) {
	q.qcap.mu.Lock()
	defer q.qcap.mu.Unlock()
	q.qcap.n += n
	q.qcap.bytes += size
}

// quarantineLeft invalidates the cached totals: a message left the
// quarantine (any commit that took its record out: quarantineOut); the next quarantined
// submission recounts in its transaction. Until then the totals are
// too high, which refuses early, never admits over the bound.
func (q *Manager) quarantineLeft() {
	q.qcap.mu.Lock()
	defer q.qcap.mu.Unlock()
	q.qcap.valid = false
}
