package queue

import (
	"sync"
	"time"
)

// FinalClaims is the record of final deliveries in flight: the
// deliverer asks it before it writes into a mailbox (delivery.Dedup) and
// the scheduler releases an attempt's claims after committing its
// results. It is state over the store alone, built before the deliverer
// and the manager and given to both at construction
// (ManagerConfig.Claims, delivery.Config.Dedup): no late binding.
type FinalClaims struct {
	store  *Store
	mu     sync.Mutex
	claims map[string]ID // database ‖ record key → message
	owned  map[ID][]string
}

// NewFinalClaims returns the claims record over store.
func NewFinalClaims(store *Store) *FinalClaims {
	return &FinalClaims{store: store, claims: map[string]ID{}, owned: map[ID][]string{}}
}

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
func (c *FinalClaims) ClaimFinal(id ID, db, orgID, rcpt string) Claim {
	if orgID == "" {
		return Fresh // not reached: PutNew gives every message an org id
	}
	key := db + "\x00" + string(deliveredHash(orgID, rcpt))
	c.mu.Lock()
	defer c.mu.Unlock()
	if owner, ok := c.claims[key]; ok {
		if owner != id {
			return Busy
		}
		return Fresh
	}
	seen := false
	_ = c.store.View(func(tx *Tx) error { seen = tx.WasDelivered(db, orgID, rcpt); return nil })
	if seen {
		return Duplicate
	}
	c.claims[key] = id
	c.owned[id] = append(c.owned[id], key)
	return Fresh
}

// release drops the claims of message id (after its results' commit).
func (c *FinalClaims) release(id ID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range c.owned[id] {
		delete(c.claims, k)
	}
	delete(c.owned, id)
}

// ClaimFinal asks the manager's claims record (FinalClaims.ClaimFinal).
func (q *Manager) ClaimFinal(id ID, db, orgID, rcpt string) Claim {
	return q.fc.ClaimFinal(id, db, orgID, rcpt)
}

// Claims is the record of final deliveries in flight the manager
// releases; the deliverer is given the same (delivery.Config.Dedup).
func (q *Manager) Claims() *FinalClaims { return q.fc }

// Claim is ClaimFinal's answer.
type Claim uint8

// Claims.
const (
	Fresh Claim = iota
	Duplicate
	Busy
)

func (q *Manager) releaseClaims(id ID) { q.fc.release(id) }

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
