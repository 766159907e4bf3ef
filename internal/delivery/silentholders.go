package delivery

import (
	"context"
	"errors"
	"time"

	"umbra/internal/mailaddr"
	"umbra/internal/smtp"
)

// Silent holders (partition49 F1): a link that fails one way only. A
// holder of this server's copies whose sessions to this server fail —
// refused at accept, cut before the greeting, lost on the way — while
// this server's sessions to it pass, fetches none of the discards this
// server owes it: its watch and heartbeat cannot connect. This server's
// probes still reach it, and keep it from taking the copies over; but
// once the queue here emptied no pass probed it, and the holder took
// over and delivered a second time what was delivered here long before.
// The README's promise is one failure at a time, a link's included,
// whichever way it fails.
//
// So every pass of the holders probes each server this server owes
// discards to (Holders.Stale), whether or not a queued message has a
// copy there; and when that server asked for none here within
// silentAfter — two heartbeat timeouts: its watch or heartbeat asks at
// least once a timeout while it holds copies — the discards are handed
// over on this server's own session after the probe that reached it
// (XDISCARD, as at a stop and to a holder whose sessions are refused
// here). Once handed, the holder holds nothing of these messages: this
// server lost (kill -9) leaves it nothing to take over. A partition both
// ways still leads to the takeover: no probe reaches the holder then.

// silentAfter is how long a holder owed discards may go without a query
// here before this server hands them over itself.
func (r *ReceiptShadow) silentAfter() time.Duration {
	return 2 * max(r.d.st.Load().cfg.ShadowHeartbeatTimeout, time.Second)
}

// holderSilent reports whether server, a holder owed discards here,
// made no query here within silentAfter. None since this process
// started counts from the first pass that asked (silentSince), not as
// silent at once: a healthy holder's watch asks within a heartbeat
// timeout, and is not handed its discards over a session of this
// server's at every start. Its sessions may state another name than
// the one it is dialled as (statedAs): either counts.
func (r *ReceiptShadow) holderSilent(server string) bool {
	now := r.clock()
	r.silentSince.CompareAndSwap(0, now.UnixNano())
	last := r.lastAsked(server)
	if last.IsZero() {
		last = time.Unix(0, r.silentSince.Load())
	}
	return now.Sub(last) >= r.silentAfter()
}

// lastAsked is when server's shadow sessions last made a query here
// (zero: none since this process started).
func (r *ReceiptShadow) lastAsked(server string) time.Time {
	var last int64
	k := mailaddr.NameKey(server)
	if v, ok := r.holderAsked.Load(k); ok {
		last = v.(int64)
	}
	if s, ok := r.statedAs.Load(k); ok {
		if v, ok := r.holderAsked.Load(s); ok && v.(int64) > last {
			last = v.(int64)
		}
	}
	if last == 0 {
		return time.Time{}
	}
	return time.Unix(0, last)
}

// pushToSilent hands the discard notifications this server owes to
// server, a holder that asked for none here within silentAfter while
// this server's probe just reached it, over a session of this server's
// (XDISCARD: pushDiscards), within StopPushPerServer.
func (r *ReceiptShadow) pushToSilent(ctx context.Context, server string, q OwedDiscards) {
	name, n, ok, err := r.pushOwed(ctx, server, q)
	switch {
	case !ok, errors.Is(err, smtp.ErrNoPush):
	case err != nil:
		r.d.log.Info("discard notifications not all handed to a shadow server that fetches none here (its sessions to this server fail?); tried again at the next pass",
			"shadow_server", name, "handed", n, "err", err)
	case n > 0:
		r.d.log.Info("discard notifications handed to a shadow server that fetched none here (its sessions to this server fail?) while this server reaches it",
			"shadow_server", name, "count", n, "silent_for", r.silentFor(name))
	}
}

// silentFor says how long server asked for nothing here, for a log line.
func (r *ReceiptShadow) silentFor(server string) string {
	last := r.lastAsked(server)
	if last.IsZero() {
		return "since this start"
	}
	return r.clock().Sub(last).Round(time.Second).String()
}

// owes reports whether server is among those q owes discards to.
func owes(q OwedDiscards, server string) bool {
	owed, err := q.OwedDiscardServers()
	if err != nil {
		return false
	}
	for _, n := range owed {
		if mailaddr.NameKey(n) == mailaddr.NameKey(server) {
			return true
		}
	}
	return false
}
