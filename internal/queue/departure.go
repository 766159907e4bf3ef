package queue

import "sync"

// How a message that senders wait on (WaitGone) left the queue, so that
// the delayed acknowledgement says what happened: a local mailbox
// delivery has no next hop to confirm it.

// Departures of a message.
const (
	DepartedDelivered = "delivered" // every recipient delivered to a mailbox here
	DepartedRelayed   = "relayed"   // a next hop took responsibility for some
	DepartedFailed    = "failed"    // none delivered or relayed: failed (DSN) or removed
)

// maxDepartures bounds the departures remembered for senders that stopped
// waiting before reading theirs.
const maxDepartures = 10000

type departures struct {
	mu sync.Mutex
	m  map[ID]string
}

// noteDeparture remembers how m left, if a sender waits for it.
func (q *Manager) noteDeparture(m *Message) {
	if !q.hasWaiters(m.ID) {
		return
	}
	how := DepartedFailed
	delivered, relayed := 0, 0
	for _, r := range m.Rcpts {
		switch r.Status {
		case Delivered:
			delivered++
		case Relayed, Shadowed:
			relayed++
		}
	}
	switch {
	case relayed > 0:
		how = DepartedRelayed
	case delivered > 0:
		how = DepartedDelivered
	}
	d := &q.dep
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.m == nil || len(d.m) >= maxDepartures {
		d.m = map[ID]string{}
	}
	d.m[m.ID] = how
}

// Departure tells how message id left the queue (Departed*), once its
// WaitGone channel is closed; "" when not known (removed by the
// administrator, or forgotten). It is told once.
func (q *Manager) Departure(id ID) string {
	d := &q.dep
	d.mu.Lock()
	defer d.mu.Unlock()
	how := d.m[id]
	delete(d.m, id)
	return how
}
