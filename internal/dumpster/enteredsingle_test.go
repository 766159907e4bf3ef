package dumpster

import (
	"context"
	"testing"
	"time"

	"umbra/internal/queue"
)

// A copy a redelivery request puts back in the queue is on this server's
// disk alone (its dumpster copy moved, no shadow server holds one): on a
// server that makes shadow copies its commit marks it held by this server
// only, so that the holders' pass copies it elsewhere and shadow single
// names it (SR-17, TD-2). Where no copies are made it is not marked.
func TestRedeliveredCopyMarkedHeldHereOnly(t *testing.T) {
	for _, copies := range []bool{true, false} {
		r := newRig(t, Config{MaxSizePerDatabase: 1 << 20, MaxTime: 24 * time.Hour})
		r.store.SetShadowCopies(copies)
		r.send(1, 300)
		r.clk.Advance(time.Minute)
		r.mu.Lock()
		r.deferAll = true // the redelivered message stays queued
		r.mu.Unlock()
		req, _, err := r.d.RedeliverAgo(context.Background(), "op-1", "DB1", time.Hour)
		if err != nil || req.Resubmitted != 1 {
			t.Fatalf("redelivery: %+v %v", req, err)
		}
		var queued []queue.ID
		r.store.View(func(tx *queue.Tx) error {
			tx.ForEach(func(m *queue.Message, err error) bool {
				if err == nil {
					queued = append(queued, m.ID)
				}
				return true
			})
			return nil
		})
		if len(queued) != 1 {
			t.Fatalf("copies=%v: %d messages queued, want the redelivered one", copies, len(queued))
		}
		single, err := r.mgr.SingleCopies()
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case copies && (len(single) != 1 || single[0].ID != queued[0] || single[0].Lost != ""):
			t.Errorf("shadow copies made: single copies %+v, want the redelivered message %s (no holder lost)", single, queued[0])
		case !copies && len(single) != 0:
			t.Errorf("no shadow copies made: single copies %+v, want none", single)
		}
		r.mu.Lock()
		r.deferAll = false
		r.mu.Unlock()
		r.waitEmpty()
	}
}
