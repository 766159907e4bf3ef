package queue

// settledEarly is a message whose recipients the discards of primaries
// by, kept aside while it was in delivery, settled in a commit
// (applyEarlyDiscards), and the recipients partial discards kept aside
// settled one by one.
type settledEarly struct {
	m       *Message
	by      []string
	partial []partialEarly
}

// partialEarly is a recipient a partial discard of primary kept aside
// settled: tracked as partial discards applied at once are
// (partialEvents), not as the discard of the whole copy, whose other
// recipients stay held here.
type partialEarly struct {
	primary string
	rc      Recipient
}

// claimSettledEarly takes from t the discards kept aside that it applied
// to id so far: a writer that tracks events of its own after the commit
// (the commit of an attempt's results: "shadow" first) writes them in
// their order itself; what is left (other writers' of the same batch
// too) is tracked by the store after the commit.
func (t *Tx) claimSettledEarly(id ID) []settledEarly {
	var mine []settledEarly
	left := t.settledEarly[:0]
	for _, e := range t.settledEarly {
		if e.m.ID == id {
			mine = append(mine, e)
		} else {
			left = append(left, e)
		}
	}
	t.settledEarly = left
	return mine
}

// trackSettledEarly writes, after the commit that applied them, the
// "discard" events of the discards kept aside while their messages were
// in delivery (SR-11: a copy its primary finished with leaves the
// tracking log as one the primary discarded at once does, eventbatch.go).
func (s *Store) trackSettledEarly(early []settledEarly) {
	if len(early) == 0 {
		return
	}
	if q := s.early.Load(); q != nil {
		q.trackSettledEarly(early)
	}
}

// trackSettledEarly writes the "discard" events of early.
func (q *Manager) trackSettledEarly(early []settledEarly) {
	if len(early) == 0 {
		return
	}
	ev, flush := q.eventBatch()
	for _, e := range early {
		for _, p := range e.by {
			ev.Event("discard", e.m, nil, "shadow copy discarded by "+p)
		}
		for _, pe := range e.partial {
			ev.Event("discard", e.m, &pe.rc, partialDiscardReply(pe.primary))
		}
	}
	flush()
}
