package queue

import "context"

// WithdrawShadowCopies removes copies on receipt this server has just
// stored for primary (ids: the records a push's commit wrote anew,
// CopyResult.New) whose push the primary had given up on before this
// server could answer it: it closed the session first (rt20a F1). Such
// a primary counts the copy unconfirmed and has it made on another
// server; its discard for this one lives on its disk alone, so a copy
// kept here would be a second holder of the message once that disk is
// lost — taken over and delivered beside the other holder's. Withdrawn,
// the copy is as if never pushed: the primary's later discard finds
// nothing (kept as early, as for any discard of an unknown copy).
//
// Only a record still a copy for primary is touched: one taken over,
// in delivery, or merged into an original relayed here meanwhile is
// left as it is (a later discard of the primary's settles it, as
// before). Each withdrawn recipient is one the push added; a recipient
// of another record is never touched. It returns how many records left.
func (q *Manager) WithdrawShadowCopies(ctx context.Context, primary string, ids []ID) (int, error) {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	if len(ids) == 0 {
		return 0, nil
	}
	var gone []*Message
	var left map[string]int
	err := q.store.Update(ctx, func(tx *Tx) error {
		gone, left = gone[:0], map[string]int{}
		for _, id := range ids {
			m, err := tx.Get(id)
			if err != nil || m.State != Shadow {
				continue
			}
			changed := false
			for i := range m.Rcpts {
				r := &m.Rcpts[i]
				if r.Status == Shadowed && discardSettles(r, primary, m.OrgID) {
					left[waitsIn(r)]++
					r.Status, changed = Relayed, true
				}
			}
			if !changed {
				continue
			}
			if nothingLeft(m) {
				if err := tx.Delete(m.ID); err != nil {
					return err
				}
				gone = append(gone, m)
			} else if err := tx.Put(m); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	q.noteLeft(left)
	if len(gone) > 0 {
		ev, flush := q.eventBatch()
		for _, m := range gone {
			ev.Event("discard", m, nil, "shadow copy withdrawn: "+primary+" closed the push before its answer")
		}
		flush()
		for _, m := range gone {
			q.notifyGone(m.ID)
		}
	}
	return len(gone), nil
}
