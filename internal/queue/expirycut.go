package queue

import (
	"context"
	"strings"
)

// The expiry inside an attempt (rt24d F3).
//
// No retry starts at or after a message's expiry (expiredNow), but an
// attempt that started before it can last past it: a next hop that
// tarpits its RCPT replies holds the session for up to command_timeout
// per command. Its recipients accepted after the expiry were then sent
// the body — after the Will-Retry-Until a delay DSN had given the sender.
// The attempt's context carries its message's expiry (deliver): the
// deliverer asks PastExpiry before it opens a session to a host, before
// it begins a transaction and again before DATA (before the body, on a
// pipelined one), and ends a lookup still waiting (MX, addresses,
// MTA-STS, TLSA) and closes a session still opening (greeting, EHLO,
// STARTTLS, login, XSHADOW) when ExpiryReached fires (delivery's
// expiryopen.go);
// when the expiry has passed it sends nothing more of the message — RSET, or the
// connection closed after a 354 it cannot take back — and answers the
// recipients not refused with ExpiredUnsentReply. The attempt's commit
// then fails them as expired (550 5.4.7, finish) with the failure DSN;
// the next hop's window is not marked for it (feedback).
//
// Only a message the expiry may cut: expiryBinds, the one rule
// expiredNow applies too — every message but a copy taken over from a
// primary and not tried here yet, not notified (also while this attempt
// ran: noticecommit.go), which has its one attempt, whole; a message
// bound is failed at its claim rather than begin an attempt already
// cut.

// ExpiredUnsentReply is the reply of a recipient whose attempt reached
// its message's expiry before the body was sent (umbra's own: no host
// said it).
const ExpiredUnsentReply = "451 4.4.7 message expired during the attempt: transaction ended before DATA, nothing sent"

type expiryKey struct{}

// expiryCheck is what an attempt's context carries of its message's
// expiry: whether it passed, and a channel closed when it does.
type expiryCheck struct {
	past    func() bool
	reached <-chan struct{}
}

// withExpiry gives ctx the expiry check of m's attempt; end releases
// its timer (the deliverer returned). noticed reports whether the
// attempt made m's delay notice while it ran (noticecommit.go): a
// taken-over copy never tried here becomes one the expiry cuts then, as its notice
// gave a Will-Retry-Until (a notice is made only before the expiry).
func (q *Manager) withExpiry(ctx context.Context, m *Message, noticed func() bool) (_ context.Context, end func()) {
	if m.Arrived.IsZero() {
		return ctx, func() {}
	}
	tried := expiryBinds(m, false)
	pol := q.policy()
	if !tried && (noticed == nil || m.From == "" || pol.DelayNotification <= 0 || pol.DelayNotification >= pol.MessageExpiration) {
		return ctx, func() {} // no notice can make it one the expiry cuts
	}
	// expiryBinds(m, noticed()), the one rule, read without m again:
	// m has an arrival (above), and its commit may write it meanwhile.
	cuts := func() bool { return tried || noticed() }
	expiry := m.OrgArrived().Add(pol.MessageExpiration)
	reached, stop := make(chan struct{}), make(chan struct{})
	t := q.clk.NewTimer(max(expiry.Sub(q.clk.Now()), 0))
	go func() {
		defer q.recoverLogged(PanicExpiry, "msg_id", m.ID.String()) // not cut: the attempt ends as its session does (panics.go)
		select {
		case <-t.C():
			q.mayPanic(PanicExpiry)
			if cuts() {
				close(reached)
			}
		case <-stop:
		}
	}()
	check := expiryCheck{past: func() bool { return !q.clk.Now().Before(expiry) && cuts() }, reached: reached}
	return context.WithValue(ctx, expiryKey{}, check), func() { t.Stop(); close(stop) }
}

// WithExpiryCheck gives ctx an expiry check of its own: past reports
// whether the expiry passed, reached is closed when it does (nil: no
// cut armed). The manager gives each attempt its message's (withExpiry);
// a deliverer's tests use this one to reach its checks before DATA and
// before the body with no cut armed to close the session first.
func WithExpiryCheck(ctx context.Context, past func() bool, reached <-chan struct{}) context.Context {
	return context.WithValue(ctx, expiryKey{}, expiryCheck{past: past, reached: reached})
}

// PastExpiry reports whether the message of the attempt ctx belongs to
// has reached its expiry: nothing more of it is sent (see above).
func PastExpiry(ctx context.Context) bool {
	c, _ := ctx.Value(expiryKey{}).(expiryCheck)
	return c.past != nil && c.past()
}

// ExpiryReached is closed when the message of the attempt ctx belongs
// to reaches its expiry (nil: no expiry cuts it). A session that has
// not begun the message's body then ends at once (delivery's
// transaction closes the connection): its recipients fail as expired
// when the expiry comes, not when a next hop that holds its replies
// (a tarpit, for up to command_timeout a command) lets the attempt end
// — and with them the attempt's other recipients, which wait for its
// end (rt24d F2).
func ExpiryReached(ctx context.Context) <-chan struct{} {
	c, _ := ctx.Value(expiryKey{}).(expiryCheck)
	return c.reached
}

// expiredUnsent: reply is ExpiredUnsentReply's kind — the message's
// own expiry, not the next hop's failure.
func expiredUnsent(reply string) bool {
	return strings.HasPrefix(reply, "451 4.4.7 message expired during the attempt")
}
