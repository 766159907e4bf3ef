package delivery

import (
	"context"
	"sync"

	"umbra/internal/queue"
)

// The expiry while a session opens (rr25 F2).
//
// A retry (an attempt the message's expiry binds: queue/expirycut.go)
// is cut at the expiry inside its transaction (transaction), and from
// its first lookup on: a resolver that does not answer the MX, address,
// MTA-STS or TLSA lookups of deliverRemote (for up to
// transport.mx_lookup_timeout, or the DNS budget), a next hop that holds
// its greeting, EHLO, STARTTLS, login (a tarpit, for up to
// command_timeout a command) or the XSHADOW reply of a shadow session
// (openShadow; shadowOpeningCut answers the recipients) does not hold
// the attempt — and the deferrals and expiry DSN of its other
// destinations, which wait for its end — past the expiry (sched26;
// TestExpiryCutsEveryStepBeforeData). Past it, no
// session to a next host of the destination opens either (deliverRemote,
// deliverOrg and deliverLocal look before each host): its recipients are
// answered ExpiredUnsentReply, nothing of the message sent, and the
// attempt's commit fails them as expired.

// untilExpiry is ctx for opening a session of the message's attempt:
// cancelled when the message reaches its expiry (queue.ExpiryReached),
// which ends a dial or the client's opening (smtp.NewClient) at once.
// end releases it once the session is open (or failed to): the
// transaction's own cut takes over from there; end may be called
// again (a deferred one after the session opened). A first attempt, which
// no expiry cuts, gets ctx as it is.
func untilExpiry(ctx context.Context) (_ context.Context, end func()) {
	reached := queue.ExpiryReached(ctx)
	if reached == nil {
		return ctx, func() {}
	}
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		select {
		case <-reached:
			cancel()
		case <-done:
		}
	}()
	var once sync.Once
	return cctx, func() {
		once.Do(func() {
			close(done)
			cancel()
		})
	}
}
