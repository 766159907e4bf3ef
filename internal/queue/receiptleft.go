package queue

import (
	"errors"
	"fmt"
)

// LeftBeforeCopy reports whether message id left this server — its
// record gone, or no recipient of it pending: each delivered, relayed
// (in a shadow session too: the next hop holds the message, this
// server the relay's copy), or failed with its DSN made — by the time
// its copy on receipt gave up (rt19 fixa19 item 3). Its first delivery
// attempt starts at the commit, before the push, and a push to a hung
// shadow server waits for its bound: such a message was never held by
// this server only, and the receipt says so rather than "no shadow
// copy". A read that fails (the file's error, a damaged record) is no
// answer: it returns that error, and false means nothing then — the
// receipt neither claims nor denies that the message left (receipt48
// item 1: a failed read taken as "not left" had the reply name a copy
// as the shadow copy of a message this server may no longer hold).
func (q *Manager) LeftBeforeCopy(id ID) (bool, error) {
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
	if err != nil {
		return false, fmt.Errorf("reading message %s: %w", id, err)
	}
	return left, nil
}
