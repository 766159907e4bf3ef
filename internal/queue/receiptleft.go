package queue

import (
	"errors"
)

// LeftBeforeCopy reports whether message id left this server — its
// record gone, or no recipient of it pending: each delivered, relayed
// (in a shadow session too: the next hop holds the message, this
// server the relay's copy), or failed with its DSN made — by the time
// its copy on receipt gave up (rt19 fixa19 item 3). Its first delivery
// attempt starts at the commit, before the push, and a push to a hung
// shadow server waits for its bound: such a message was never held by
// this server only, and the receipt says so rather than "no shadow
// copy". A read that fails answers false: the receipt then reports the
// copy as not made, as before.
func (q *Manager) LeftBeforeCopy(id ID) bool {
	left := false
	err := q.store.View(func(tx *Tx) error {
		m, err := tx.Get(id)
		if errors.Is(err, ErrNotFound) {
			left = true
			return nil
		}
		if err != nil {
			return err
		}
		left = len(m.Pending()) == 0
		return nil
	})
	return err == nil && left
}
