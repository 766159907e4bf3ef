package delivery

import (
	"cmp"
	"context"
	"errors"
	"time"

	"umbra/internal/smtp"
)

// A server restarted with shadow_redundancy_enabled false still owes
// the holders of the copies made while it was on the discards of those
// messages: it delivers them, and the queue prepares each discard as
// ever. But its receive side offers no shadow verbs now (502 5.5.1
// XSHADOW not available), so the holders' queries fetch none, no holders'
// pass pushes them (there is none) and the stop did not either (no
// shadow id): a holder kept its copies until this server died and then
// delivered them a second time (rt31a F1's class). PushOwedWhileOff hands
// them over as the stop does (XDISCARD, each server within
// StopPushPerServer, to the transport servers of the topology and to the
// former holders at their recorded address), once every
// shadow_heartbeat_timeout while any is owed; the stop pushes what is
// left.

// pushID is the id this server states when it hands discards over: its
// shadow server id, or OwedPushID while shadow redundancy is off here.
func pushID(st *state) string { return cmp.Or(st.cfg.ShadowServerID, st.cfg.OwedPushID) }

// watchID is the id this server states in the sessions it opens as a
// holder (heartbeats, watch, reconciliation): its shadow server id, or
// WatchID while shadow redundancy is off here and copies from before
// are still held (sites49 F1).
func watchID(st *state) string { return cmp.Or(st.cfg.ShadowServerID, st.cfg.WatchID) }

// PushOwedWhileOff pushes the discards still owed to shadow servers
// every every() while shadow redundancy is off here (no ShadowServerID),
// until ctx ends. With it on, the holders' pass does this: it returns.
func (d *Deliverer) PushOwedWhileOff(ctx context.Context, q OwedDiscards, every func() time.Duration) {
	for {
		st := d.st.Load()
		if st.cfg.ShadowServerID != "" || st.cfg.OwedPushID == "" {
			return
		}
		if owed, err := q.OwedDiscardServers(); err == nil && len(owed) > 0 {
			d.pushOwed(ctx, q, StopPushPerServer, false)
		}
		wait := every()
		if wait <= 0 {
			wait = 5 * time.Minute
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// notePushedWhileOff logs one server's hand-over by PushOwedWhileOff.
func (d *Deliverer) notePushedWhileOff(server string, n int, err error) {
	switch {
	case errors.Is(err, smtp.ErrNoPush):
	case err != nil:
		d.log.Info("discard notifications not all handed to a shadow server while shadow redundancy is off here; tried again at the next pass",
			"shadow_server", server, "handed", n, "err", err)
	case n > 0:
		d.log.Info("discard notifications handed to a shadow server: shadow redundancy is off here, so its own queries are refused",
			"shadow_server", server, "count", n)
	}
}
