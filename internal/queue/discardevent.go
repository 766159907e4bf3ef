package queue

// RecordDiscard writes the tracking event of a message an edge check
// discarded at receipt (answered 250, never stored): event "discard"
// with the reason, so that `umbra track` finds what the client was told
// was queued.
func (q *Manager) RecordDiscard(m *Message, why string) {
	q.ev.Event("discard", m, nil, why)
}
