package queue

import "time"

// delayOwedHere lists the recipients of pending whose "delayed" DSN this
// server makes, the delay having been due at due. A recipient taken over
// from a primary (takenOverRcpt) is left out when that primary was last
// heard from (LastContact: a completed discard query) at or after due:
// it held the original past that point and made the notice itself, so
// a second one from here would tell the sender twice (rt19e F3). One
// whose primary went silent before the delay was due gets it from here.
// The rule errs towards a notice missed — a primary that died between
// due and its next failed attempt made none — never towards two; a
// delay notice is advice (RFC 3461 §4.2), the failure DSN is not. The
// peers are read only when a taken-over recipient is among pending.
func (q *Manager) delayOwedHere(m *Message, pending []int, due time.Time) []int {
	taken := false
	for _, i := range pending {
		taken = taken || takenOverRcpt(&m.Rcpts[i])
	}
	if !taken {
		return pending
	}
	heard := map[string]bool{} // primary → heard from at or after due
	err := q.store.View(func(tx *Tx) error {
		for _, i := range pending {
			r := &m.Rcpts[i]
			if !takenOverRcpt(r) {
				continue
			}
			if _, seen := heard[r.Primary]; seen {
				continue
			}
			p, err := tx.Peer(r.Primary)
			heard[r.Primary] = err == nil && p != nil && !p.LastContact.Before(due)
		}
		return nil
	})
	if err != nil {
		// Not known who was heard from: no notice for a taken-over
		// recipient rather than perhaps a second one.
		q.log.Warn("reading the primaries of taken-over copies failed: no delay notice for them", "msg_id", m.ID.String(), "err", err)
		for _, i := range pending {
			if r := &m.Rcpts[i]; takenOverRcpt(r) {
				heard[r.Primary] = true
			}
		}
	}
	out := make([]int, 0, len(pending))
	for _, i := range pending {
		if r := &m.Rcpts[i]; !takenOverRcpt(r) || !heard[r.Primary] {
			out = append(out, i)
		}
	}
	return out
}
