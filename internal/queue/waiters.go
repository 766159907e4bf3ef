package queue

import (
	"context"
	"errors"
)

// Settle returns once the results of every attempt that ended before
// the call are committed (Store.Settle): the operator's commands read
// the queue after it, so they never see a message in delivery whose
// results were only waiting for a commit.
func (q *Manager) Settle(ctx context.Context) error { return q.store.Settle(ctx) }

// WaitGone returns a channel closed once message id has left the queue:
// every recipient delivered, relayed to a non-shadow hop, failed with its
// DSN, or discarded by the primaries that shadowed it — what delayed
// acknowledgement waits for (SR-9). cancel stops waiting.
func (q *Manager) WaitGone(id ID) (gone <-chan struct{}, cancel func()) {
	ch := make(chan struct{})
	q.wmu.Lock()
	q.waiters[id] = append(q.waiters[id], ch)
	q.wmu.Unlock()
	// Registered first, then checked: a removal before the registration
	// is seen here, one after it closes the channel.
	if _, err := q.Message(id); errors.Is(err, ErrNotFound) {
		q.notifyGone(id)
	}
	q.store.Flush() // results set aside for a later commit are now waited for
	return ch, func() {
		q.wmu.Lock()
		defer q.wmu.Unlock()
		for i, c := range q.waiters[id] {
			if c == ch {
				q.waiters[id] = append(q.waiters[id][:i], q.waiters[id][i+1:]...)
				break
			}
		}
		if len(q.waiters[id]) == 0 {
			delete(q.waiters, id)
		}
	}
}

func (q *Manager) notifyGone(id ID) {
	q.wmu.Lock()
	chs := append(q.waiters[id], q.handed[id]...)
	delete(q.waiters, id)
	delete(q.handed, id)
	q.wmu.Unlock()
	for _, ch := range chs {
		close(ch)
	}
}

// WaitHandedOn returns a channel closed once no recipient of message id
// is pending any more: each was delivered, relayed (a next hop took
// ownership, shadowed or not) or failed with its DSN — or the message
// left the queue. The pickup directory deletes a file then (SR-12).
func (q *Manager) WaitHandedOn(id ID) <-chan struct{} {
	ch := make(chan struct{})
	q.wmu.Lock()
	q.handed[id] = append(q.handed[id], ch)
	q.wmu.Unlock()
	if m, err := q.Message(id); errors.Is(err, ErrNotFound) || err == nil && len(m.Pending()) == 0 {
		q.notifyHanded(id)
	}
	q.store.Flush() // results set aside for a later commit are now waited for
	return ch
}

func (q *Manager) notifyHanded(id ID) {
	q.wmu.Lock()
	chs := q.handed[id]
	delete(q.handed, id)
	q.wmu.Unlock()
	for _, ch := range chs {
		close(ch)
	}
}

func (q *Manager) hasWaiters(id ID) bool {
	q.wmu.Lock()
	defer q.wmu.Unlock()
	return len(q.waiters[id]) > 0 || len(q.handed[id]) > 0 // a sender, or the pickup watcher (WaitHandedOn)
}
