package queue

import (
	"context"
	"time"
)

// A contact with the real primary that is no discard query — a session
// it completed here (ShadowAnswered: its probe, a reconciliation), a copy
// it pushed (SubmitShadowCopy), the XSHADOW reply of a session this
// server opened with the stored database id (ShadowPresented) — proves it
// alive: the failed heartbeats counted so far are not "in a row" with the
// next one (rt36 F2: a primary down a second twice, each time when a
// heartbeat fell due, was taken over a second after its second outage
// began). Such a contact does not reset the heartbeat timer of SR-5 (only
// a completed discard query does: LastContact), but it restarts the count
// and makes the next heartbeat due a timeout after the contact (LastTry).
// A primary with no failures counted costs no write and keeps its
// heartbeat schedule, so its retry count of failures can come sooner
// than timeout × retries after such a contact; the commit that would take
// over checks that bound against the last contact of any kind
// (ShadowHeartbeatFailed, answered.go) and defers the takeover to the
// next failure past it. A takeover done stays (the next discard query
// makes those copies due again, or gives them back).

// resetFailuresTx restarts p's count of failed heartbeats at a contact
// with the primary at now; it reports whether p changed.
func resetFailuresTx(p *ShadowPeer, now time.Time) bool {
	if p.Failures == 0 {
		return false
	}
	p.Failures = 0
	if now.After(p.LastTry) {
		p.LastTry = now
	}
	return true
}

// shadowAlive records a contact with primary that is no discard query
// (resetFailuresTx) in its own commit, when failures are counted for it.
func (q *Manager) shadowAlive(primary string) {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	failing := false
	_ = q.store.View(func(tx *Tx) error {
		p, err := tx.Peer(primary)
		failing = err == nil && p != nil && p.Failures > 0
		return nil
	})
	if !failing {
		return
	}
	now := q.clk.Now()
	err := q.store.Update(context.Background(), func(tx *Tx) error {
		p, err := tx.Peer(primary)
		if err != nil || p == nil || !resetFailuresTx(p, now) {
			return err
		}
		return tx.PutPeer(p)
	})
	if err != nil {
		q.log.Error("recording a contact with a primary failed", "primary", primary, "err", err)
	}
}
