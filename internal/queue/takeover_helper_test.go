package queue

import (
	"context"
)

// Takeover makes this server primary for every copy it shadows for
// primary (SR-6, SR-7): the recipients go back to routing at once. A
// test fixture only (rrrestored40): no path of the server takes every
// copy of a primary over in one call without a cause the shadow
// manager's paths record (failed heartbeats, a new database, a
// rollback mark, an expired copy).
func (q *Manager) Takeover(primary, reason string) (int, error) {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	now := q.clk.Now()
	var taken []*Message
	var marked int
	err := q.store.Update(context.Background(), func(tx *Tx) error {
		var err error
		if taken, marked, err = tx.takeoverTx(primary, reason, now); err != nil {
			return err
		}
		p, err := tx.Peer(primary)
		if err != nil || p == nil {
			return err
		}
		p.Failures, p.TakenOver = 0, true
		return tx.PutPeer(p)
	})
	if err != nil {
		return 0, err
	}
	for _, m := range taken {
		q.ev.Event("takeover", m, nil, primary+": "+reason)
	}
	n := len(taken) + marked
	if n > 0 {
		q.Kick()
		q.log.Warn("shadow copies taken over", "primary", primary, "messages", n, "reason", reason)
	}
	return n, nil
}
