package queue

import (
	"time"
)

// ClaimFinal is asked by the deliverer before it writes message id into
// rcpt's mailbox in database db. It answers Fresh when the delivery may
// go ahead, and then holds the claim until the attempt's results are
// committed; Duplicate when this transport message (its organisation
// message id, SR-14 — never the sender's Message-ID) already reached that
// mailbox (a copy resubmitted by a takeover, or by a primary back with
// its old database, SR-11); Busy when another copy is being delivered
// there at this moment, so this one must wait and will then be found a
// duplicate. The claim lock is taken before the record is read: a claim
// is released only after the commit that writes the record, so under
// the lock either the claim or the record is seen, never neither.
func (q *Manager) ClaimFinal(id ID, db, orgID, rcpt string) Claim {
	if orgID == "" {
		return Fresh // not reached: PutNew gives every message an org id
	}
	key := db + "\x00" + string(deliveredHash(orgID, rcpt))
	q.cmu.Lock()
	defer q.cmu.Unlock()
	if owner, ok := q.claims[key]; ok {
		if owner != id {
			return Busy
		}
		return Fresh
	}
	seen := false
	_ = q.store.View(func(tx *Tx) error { seen = tx.WasDelivered(db, orgID, rcpt); return nil })
	if seen {
		return Duplicate
	}
	q.claims[key] = id
	q.owned[id] = append(q.owned[id], key)
	return Fresh
}

// Claim is ClaimFinal's answer.
type Claim uint8

// Claims.
const (
	Fresh Claim = iota
	Duplicate
	Busy
)

func (q *Manager) releaseClaims(id ID) {
	q.cmu.Lock()
	defer q.cmu.Unlock()
	for _, k := range q.owned[id] {
		delete(q.claims, k)
	}
	delete(q.owned, id)
}

// duplicateWindow is how long final deliveries are remembered.
func (q *Manager) duplicateWindow() time.Duration {
	q.pmu.Lock()
	w := q.cfg.DuplicateWindow // SetReloadable changes it
	q.pmu.Unlock()
	if w > 0 {
		return w
	}
	return q.policy().MessageExpiration
}
