package queue

// EventBatcher is an Events receiver that can take several events of one
// step together (the results of one delivery attempt: one event per
// recipient; the copies one pushed batch kept; the copies one batch of
// discard notifications removed) and write them at once: Batch returns the Events to give
// them to and the function that ends the batch. Events given to the
// batch are written, in their order, when the batch ends; a receiver
// that is not an EventBatcher gets each event as it comes.
type EventBatcher interface {
	Events
	Batch() (Events, func())
}

// eventBatch starts a batch of the manager's events, when its receiver
// can take one.
func (q *Manager) eventBatch() (Events, func()) {
	if b, ok := q.ev.(EventBatcher); ok {
		return b.Batch()
	}
	return q.ev, func() {}
}

// discardEvents writes the "discard" events of the shadow copies one
// batch of a primary's discard notifications removed — their lines in
// one write, not one per copy: a busy primary's copies on receipt are
// discarded by the hundred — and then tells whoever waits on them.
func (q *Manager) discardEvents(primary string, gone []*Message) {
	if len(gone) == 0 {
		return
	}
	ev, flush := q.eventBatch()
	for _, m := range gone {
		ev.Event("discard", m, nil, "shadow copy discarded by "+primary)
	}
	flush()
	for _, m := range gone {
		q.notifyGone(m.ID)
	}
}
