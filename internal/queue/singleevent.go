package queue

// trackMarked writes, after the commit that made them, the
// "single-copy" events of the messages it made held by this server
// only (Tx.marked) — "copy-unconfirmed" for one whose copy may exist on
// a server its push got no confirmation from (SingleCopy.MayHold): the tracking log says when and why a message lost
// its second copy (its reply is SingleCopy.String), once per mark — a
// mark written again while it stands (a refusal, a push noted) is no
// new event, and one settled and made again is.
func (s *Store) trackMarked(ids []ID) {
	if len(ids) == 0 {
		return
	}
	if q := s.early.Load(); q != nil {
		q.trackMarked(ids)
	}
}

func (q *Manager) trackMarked(ids []ID) {
	type marked struct {
		m  *Message
		sc SingleCopy
	}
	var out []marked
	seen := make(map[ID]bool, len(ids))
	_ = q.store.View(func(tx *Tx) error {
		for _, id := range ids {
			if seen[id] {
				// Marked, settled and marked again in the commit
				// (writers of one batch): one mark stands, one event
				// (rr rrmix39).
				continue
			}
			seen[id] = true
			v := tx.tx.Bucket(bucketSingle).Get(id.Key())
			server, since, _, ok := singleMark(v)
			if !ok || countsSingle(v) == 0 {
				continue // settled or named held since the commit
			}
			m, err := tx.Get(id)
			if err != nil {
				continue // gone since the commit
			}
			how := singleHow(v)
			out = append(out, marked{m, SingleCopy{ID: id, Lost: server, Since: since, Refused: singleRefusal(v), How: how, TakenOver: how == HowTaken, MayHold: tx.mayHoldTx(m, v)}})
		}
		return nil
	})
	if len(out) == 0 {
		return
	}
	ev, flush := q.eventBatch()
	for _, e := range out {
		// A copy that may exist on a server whose push was not
		// confirmed is no "single-copy": an operator reading that
		// believes no second copy may exist (receipt48 item 2).
		name := "single-copy"
		if e.sc.MayHold {
			name = "copy-unconfirmed"
		}
		ev.Event(name, e.m, nil, e.sc.String())
	}
	flush()
}
