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
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	if len(gone) == 0 {
		return
	}
	ev, flush := q.eventBatch()
	for _, m := range gone {
		// After the events of the commit that handed the copy over,
		// when those are not written yet (eventorder.go).
		if q.evOrder.later(m.ID, func() { q.ev.Event("discard", m, nil, "shadow copy discarded by "+primary) }) {
			continue
		}
		ev.Event("discard", m, nil, "shadow copy discarded by "+primary)
	}
	flush()
	for _, m := range gone {
		q.notifyGone(m.ID)
	}
}

// heldEvents keeps the events of one attempt's results until their
// commit returned (finish): a line of the tracking log says what the
// database holds, so a crash between the two loses lines, never writes
// one the database contradicts (tracking doc.go). Each event keeps the
// recipient as it was when the event was raised, and the message as it
// was when the first was (a shallow copy): the receivers read them after
// the commit, when the attempt has changed both (a recipient settled by
// an early discard). The attempt count is the exception: the events of
// an attempt carry the number of that attempt, 1-based, whatever their
// outcome (rt20d-F5: a relay at the first try said attempts=0, a
// deferral attempts=1), which counted sets on the copy.
type heldEvents struct {
	m        *Message // the message as the events were raised (a shallow copy)
	evs      []heldEvent
	attempts int // counted's number; 0: the message's count as raised
	// settled: the discards kept aside that the commit applied, tracked
	// after the events of the results ("shadow" before "discard").
	settled []settledEarly
}

type heldEvent struct {
	name  string
	rc    Recipient
	reply string
}

// Event keeps an event of m (the message heldEvents was made for).
func (h *heldEvents) Event(name string, m *Message, r *Recipient, reply string) {
	if h.m == nil {
		snap := *m
		h.m = &snap
		if h.attempts > 0 {
			h.m.Attempts = h.attempts
		}
	}
	h.evs = append(h.evs, heldEvent{name: name, rc: *r, reply: reply})
}

// counted sets the attempt count the kept events carry, those raised
// and those to come, to the number of the attempt whose events they are.
func (h *heldEvents) counted(attempts int) {
	h.attempts = attempts
	if h.m != nil {
		h.m.Attempts = attempts
	}
}

// emit gives the kept events, in their order, to the manager's
// receivers as one batch.
func (h *heldEvents) emit(q *Manager) {
	if len(h.evs) > 0 {
		ev, flush := q.eventBatch()
		for i := range h.evs {
			e := &h.evs[i]
			ev.Event(e.name, h.m, &e.rc, e.reply)
		}
		flush()
	}
	q.trackSettledEarly(h.settled)
}
