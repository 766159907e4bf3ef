package delivery

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"
	"umbra/internal/config"
	"umbra/internal/mailaddr"
	"umbra/internal/orgid"
	"umbra/internal/queue"
	"umbra/internal/resolver"
	"umbra/internal/smtp"
	"umbra/internal/tlspolicy"

	gosmtp "github.com/emersion/go-smtp"
)

// deliverRemote sends a group through its send connector: to a smart
// host, or to the domain's MX hosts in preference order.
func (d *Deliverer) deliverRemote(ctx context.Context, st *state, m *queue.Message, body []byte, g *group) (out []queue.Result) {
	var hand inHand // the session held now, closed by a panic (inhand.go)
	defer hand.closeAtPanic()
	// The results of the ASCII recipients a host without SMTPUTF8 took
	// before the internationalised ones went on to the next hosts (below):
	// part of every result of the attempt.
	var taken []queue.Result
	defer func() {
		if len(taken) > 0 {
			out = append(taken, out...)
		}
	}()
	parts := orgid.PartsRecord(m.Carried(), body) // the id (and origin) lines in front, the stored body not copied
	if leavesOrganisation(st, g) {
		b, _ := orgid.Strip(body)                           // no umbra header for outsiders to replay (SR-14); a copy only when the stored body has one
		parts = [][]byte{d.signOutboundTail(ctx, st, m, b)} // stream.go: two passes over a spooled body
	}
	// Every lookup of the attempt — the MX lookup, the hosts' addresses,
	// the MTA-STS TXT record and policy, the TLSA records — is cut at the
	// message's expiry, as a session's opening is (expiryopen.go): a
	// resolver that never answers does not hold a retry past it.
	lctx, looked := untilExpiry(ctx)
	defer looked()
	var dt *destTLS // m's TLS policy state, computed once
	// The pool's sessions are the group's: a redirect's, of the
	// connector whose settings (TLS, auth) it borrows (groupID), so a
	// session opened with one connector's never carries another's mail.
	pool := groupID(g.key, g.conn)
	if pc := d.takeIdle(pool, st); pc != nil {
		hand.take(pc.c)
		alive := pc.c.Alive() // no NOOP round trip; no RSET: go-smtp would send EHLO again after it
		var meets bool
		if alive {
			meets, dt = d.pooledMeets(lctx, st, m, body, g, pc.c)
			// As in org.go: a taken-over copy never goes on a session
			// kept from a relay without a shadow session.
			meets = meets && (!shadowsTo(st, g) || pc.c.ShadowDB != "" || !queue.TakenOverIn(m, g.rcpts))
			// A session to a host without SMTPUTF8 would fail the
			// internationalised recipients there: the hosts decide (below).
			meets = meets && len(utf8Elsewhere(pc.c, m, g.rcpts)) == 0
			if queue.PastExpiry(ctx) {
				hand.drop()
				d.putBack(pool, pc) // its lookups cut by the expiry: the session is no worse for it
				return expiredUnsent(g.rcpts)
			}
		}
		switch {
		case meets:
			res, again, ok := d.reuse(ctx, st, pool, pc, m, parts, g.rcpts, false)
			hand.drop() // pooled or closed by reuse
			if ok && len(again) == 0 {
				return res
			}
			if ok {
				// Out of step on the reused session beside results that
				// stand: those recipients alone go on a fresh connection
				// (below); the others' results are the attempt's,
				// committed before that connection opens (stand).
				stand(ctx, &taken, res)
				fresh := *g
				fresh.rcpts = again
				g = &fresh
			}
		case alive:
			// Opened for a message that needed less (rt17d F1): back
			// in the pool, its idle time running on, for a message it
			// meets; m gets a session opened for it.
			hand.drop()
			d.putBack(pool, pc)
		default:
			hand.drop()
			pc.c.Close()
		}
	}

	// An attempt that reaches no host keeps a REQUIRETLS deferral an
	// earlier one got (requireTLSCarry): its DNS failing now, say.
	none := "no host of " + g.key
	src, res := d.destinations(lctx, st, g)
	if lookupCut(ctx, res) {
		return expiredUnsent(g.rcpts) // the MX lookup cut by the expiry
	}
	if res != nil {
		return requireTLSCarry(m, none, res)
	}
	// Addresses are looked up as the attempt comes to them
	// (mxlookup.go): a preference's hosts at a time, the next one only
	// when those before it are tried, or are no use — deprioritised for
	// failing (orderHosts: tried last), this server, not listed by an
	// enforced MTA-STS policy.
	healthy := func(h host) bool { return !d.health.Last(time.Now(), h.name, h.addr) }
	src.fill(lctx, healthy)
	if res := d.noAddress(lctx, g, src); res != nil {
		if lookupCut(ctx, res) {
			return expiredUnsent(g.rcpts) // the address lookups cut by the expiry
		}
		return requireTLSCarry(m, none, res)
	}
	if dt == nil {
		dt = d.outboundTLS(lctx, st, m, body, g)
	}
	if queue.PastExpiry(ctx) {
		// The MTA-STS lookups (or the addresses') cut by the expiry: no
		// decision is made on what they did not say.
		return expiredUnsent(g.rcpts)
	}
	usable := healthy
	if dt.enforcesMX() {
		usable = func(h host) bool { return healthy(h) && dt.sts.Admits(h.name, dt.noPolicy, dt.requireTLS) }
	}
	smart := len(g.conn.cfg.SmartHosts) > 0
	var late []host              // deprioritised: tried after every other host
	var self *host               // this server among the hosts (self.go)
	listed, came := false, false // some host passed the MTA-STS policy; some host came at all
	// more is the next hosts to try: looked up now, those the policy
	// lists, not this server nor worse than it; the deprioritised ones
	// once every other host was tried; nothing when none is left.
	more := func() []host {
		for {
			src.fill(lctx, usable)
			batch := src.take()
			if len(batch) == 0 {
				out := late
				late = nil
				return out
			}
			came = true
			kept, res := d.filterHosts(dt, g, batch) // the hosts it drops: dt.dropped
			if res != nil {
				continue // none of these is listed: the next ones
			}
			listed = true
			// A host that is this server is not even connected to, nor
			// an MX host no better than it (self.go).
			kept, own := dropSelf(st.cfg.OwnBindings, smart, kept)
			if own != nil && self == nil {
				self = own
			}
			var ok []host
			for _, h := range orderHosts(d.health, kept) {
				if healthy(h) {
					ok = append(ok, h)
				} else {
					late = append(late, h)
				}
			}
			if len(ok) > 0 {
				return ok
			}
		}
	}
	hosts := more()
	if len(hosts) == 0 && queue.PastExpiry(ctx) {
		return expiredUnsent(g.rcpts) // the address lookups cut by the expiry
	}
	if len(hosts) == 0 {
		if came && !listed {
			_, res := d.filterHosts(dt, g, nil) // no MX host matches the policy: its reply
			return res
		}
		if self == nil {
			self = src.self // found by its address before its turn (mxlookup.go)
		}
		if self == nil {
			return requireTLSCarry(m, none, deferAll(g.rcpts, g.key, queue.NoHostLeftReply(g.key)))
		}
		reply, permanent, loops := nothingLeft(g.dom, g.conn.cfg.Name, smart, *self, src.unresolved)
		switch {
		case src.cut != "" && !loops:
			return requireTLSCarry(m, none, deferAll(g.rcpts, g.key, reply+" ("+src.cut+")"))
		case loops:
			d.log.Error("next hop is this server itself: not relaying (check the MX records or smart hosts of the destination)",
				"next_hop", self.String(), "destination", g.dom, "send_connector", g.conn.cfg.Name, "how", selfSays(*self))
			if permanent {
				return failAll(g.rcpts, self.String(), reply)
			}
			return requireTLSCarry(m, none, deferAll(g.rcpts, self.String(), reply))
		case permanent:
			return failAll(g.rcpts, g.dom, reply)
		}
		return requireTLSCarry(m, none, deferAll(g.rcpts, g.key, reply))
	}
	lastErr, lastHost := queue.NoHostReachableReply, g.key
	var stop tlsStop // the TLS refusal that outranks the failures after it
	// telling makes the most telling reply of the attempt the
	// recipients': a TLS policy refusal at a host that answered SMTP
	// outranks the failure of the hosts after it (a backup that refused
	// the connection), so the delay and expiry DSNs, message list and
	// the log name what stopped the message, and the scheduler counts
	// the attempt as the message's, not the destination's failure
	// (queue feedback: a 4.7.5 kills no destination; rt-fixb19). MX
	// hosts an enforced MTA-STS policy skipped are named in words only:
	// when the hosts it lists are down, their own 4.4.x stays, which
	// the scheduler counts against the destination, so its window
	// shrinks and it can go dead.
	told := false // once: a cut's words added after it stay
	telling := func() {
		if told {
			return
		}
		told = true
		lastErr, lastHost = stop.over(lastErr, lastHost)
		if len(dt.dropped) > 0 {
			lastErr += " (" + strings.Join(dt.dropped, ", ") + " not listed by the MTA-STS policy of " + dt.dom + ")"
		}
	}
	refusal, refusalHost, failedTemp := "", "", false // a host that does not take the content (eightbit.go); a host that failed for now
	var stepped []queue.Result                        // the results of the recipients a host answered out of step, gone on to the next host
	steppedErr := ""
	// outranked: after the host that answered those recipients (stepped),
	// another host answered, or the attempt was cut by a limit: its reply
	// stands. A host that could not even be connected to after it does
	// not make the recipients' reason a connection failure (as tlsStop's
	// refusal outranks one): the host that answered keeps the message,
	// and a destination whose best host answers is not counted
	// unreachable, nor marked dead naming its backup (deliv48).
	outranked := false
	limit := newMXLimit(g.conn.cfg)
	for k := 0; ; k++ {
		if k == len(hosts) && !src.more() && len(late) == 0 {
			break // every host tried
		}
		if cut := limit.reached(); cut != "" {
			// The rest waits for the next attempt, which starts again
			// from the best host (mx_address_limit, mx_session_limit).
			telling()
			if refusal != "" && !failedTemp {
				lastErr, lastHost = queue.NotSentReply(refusal), refusalHost
			}
			lastErr += " (" + cut + ": " + src.notTried(len(hosts)-k+len(late)+len(src.pending())) + " not tried in this attempt)"
			failedTemp, outranked = true, true
			break
		}
		if k == len(hosts) {
			next := more()
			if len(next) == 0 && queue.PastExpiry(ctx) {
				return expiredUnsent(g.rcpts) // the next hosts' lookups cut by the expiry
			}
			if len(next) == 0 {
				break
			}
			hosts = append(hosts, next...)
		}
		if queue.PastExpiry(ctx) {
			// The message expired during the attempt (a host before
			// held it that long): no session to another host opens
			// for it (expiryopen.go).
			return expiredUnsent(g.rcpts)
		}
		h := hosts[k]
		limit.addresses++                          // its TLSA lookup too may take a timeout
		dec, err := d.hostTLS(lctx, dt, g.conn, h) // cut by the expiry too: err, below
		var c *smtp.Client
		if err == nil {
			c, err = d.connectWith(withOpeningRcpts(ctx, g.rcpts), st, g.conn, h, dt, dec)
		}
		if or := (*openingReply)(nil); errors.As(err, &or) && or.permanent && !g.conn.cfg.SendXShadow {
			// The host refused the session for good (RFC 5321 §3.1: a
			// 554 greeting; a 5xx to EHLO): its own reply, as a content
			// refusal below; another host may still take the message.
			// A server of the organisation (a send_xshadow connector's
			// smart host) that refuses is its configuration's passing
			// state: deferred, as a relay inside is (org.go).
			d.log.Info("next hop host refused the session", "msg_id", m.ID.String(), "next_hop", h.String(), "reply", or.reply)
			refusal, refusalHost = or.reply, h.String()
			limit.sessions++
			continue
		}
		if err != nil && queue.PastExpiry(ctx) {
			// The expiry closed the opening session (a host holding its
			// greeting, EHLO, STARTTLS or login): the message's
			// expiry, not the host's failure (expiryopen.go).
			d.log.Info("session opening cut by the message's expiry", "msg_id", m.ID.String(), "next_hop", h.String())
			return expiredUnsent(g.rcpts)
		}
		if err != nil {
			lastErr, lastHost = err.Error(), h.String()
			if errors.Is(err, errPermanent) {
				return failAll(g.rcpts, h.String(), strings.TrimPrefix(err.Error(), errPermanent.Error()+": "))
			}
			reached := errors.As(err, new(answered))
			if reached {
				limit.sessions++
				outranked = true // a host that answered (its refusal, its TLS): its reply stands
			}
			stop.note(lastErr, lastHost, reached)
			if ctx.Err() != nil {
				// The stop ended the attempt: the host did not fail
				// (rt26 F7), and the queue records the stop, not this.
				d.log.Info("delivery cut by the stop, not the next hop's failure", "msg_id", m.ID.String(), "next_hop", h.String())
			} else {
				d.log.Info("next hop host failed", "msg_id", m.ID.String(), "next_hop", h.String(), "err", err)
			}
			failedTemp = true
			continue
		}
		limit.sessions++
		hand.take(c)
		plain := false // relayed without a shadow session (openShadow)
		d.health.Responsive(h.name, h.addr)
		if res := requireTLSRefusal(ctx, c, h.String(), m, g.rcpts); res != nil {
			return res
		}
		primary := shadowPrimary(st, g, h)
		if shadowsTo(st, g) {
			// Relayed plainly (the second result), the results name the
			// server by relayServer (delivery.go) when the connector's
			// smart hosts are one server's.
			why, p := d.openShadow(ctx, st, c, primary, queue.TakenOverIn(m, g.rcpts))
			plain = p
			if res := shadowOpeningCut(ctx, c, h.String(), g.rcpts); res != nil {
				return res
			}
			if why != "" {
				// Refused (one way or the other): the next host.
				d.log.Info(strings.Replace(skippedWhy(why), "next hop server", "next hop host", 1), "msg_id", m.ID.String(), "next_hop", h.String(), "reply", why)
				hand.drop()
				quit(ctx, c)
				lastErr, lastHost = why, h.String()
				failedTemp, outranked = true, true
				continue
			}
			c.Via = shadowVia(st, g)
			if res := d.selfRelay(c, h.String(), g.rcpts); res != nil {
				return res
			}
		}
		if reply, err := contentRefusal(ctx, c, h.String(), m, parts, g.rcpts); err == nil && reply != "" {
			// Decided per host (eightbit.go): another host of the
			// destination may offer 8BITMIME or SMTPUTF8. The session
			// stays for a message this host takes.
			d.log.Info("next hop host refused for the content", "msg_id", m.ID.String(), "next_hop", h.String(), "reply", reply)
			refusal, refusalHost = reply, h.String()
			limit.sessions-- // an EHLO, not a transaction: mx_session_limit counts the hosts the message could go to
			hand.drop()
			d.finishConn(st, pool, c, nil)
			continue
		}
		if need := utf8Elsewhere(c, m, g.rcpts); len(need) > 0 {
			// This host lacks SMTPUTF8 and some recipients need it, not
			// all (those contentRefusal passed over the host for): the
			// ASCII ones go here, in a transaction without SMTPUTF8;
			// the internationalised ones are tried at the next hosts, of
			// this preference or the next, and fail only when no host
			// of the destination that answered offers SMTPUTF8 and none
			// failed for now (the refusal below, as for content).
			_, ascii := utf8Rcpts(m, g.rcpts)
			res := d.transaction(ctx, st, c, h.String(), m, parts, ascii, false)
			if plain && transportServerOf(st, primary) {
				for i := range res {
					if res[i].Outcome == queue.RelayedOK {
						res[i].RelayedTo = primary
					}
				}
			}
			hand.drop()
			d.finishConn(st, pool, c, res)
			stand(ctx, &taken, res)
			d.log.Info("next hop host lacks SMTPUTF8: its internationalised recipients go to the next host", "msg_id", m.ID.String(), "next_hop", h.String(), "recipients", len(need))
			rest := *g
			rest.rcpts = need
			g = &rest
			refusal, refusalHost = queue.ReplyRcptNeedsSMTPUTF8, h.String()
			continue
		}
		bodies := c.BodiesBegun()
		res := d.transaction(ctx, st, c, h.String(), m, parts, g.rcpts, false)
		if plain && transportServerOf(st, primary) {
			// Relayed without a shadow session to a server of the
			// topology: a taken-over copy's primary is told (queue
			// takendone.go), as on the org path.
			for i := range res {
				if res[i].Outcome == queue.RelayedOK {
					res[i].RelayedTo = primary
				}
			}
		}
		d.finishConn(st, pool, c, res)
		if kept, again, left := nextHostFor(res, c.BodiesBegun() == bodies); len(again) > 0 && ctx.Err() == nil && !queue.PastExpiry(ctx) {
			// The host answered out of step or with a stray reply on
			// this fresh session, or ended it (a 421, a broken
			// connection; finishConn closed it) before any of those
			// recipients' message went to it: the remote's fault, as a
			// reused session's stale reply is (reuse), and no more than a
			// connect failure, so they go on to the next host of the
			// destination in this attempt; the others' results stand.
			// With no host left, or none that takes them, their deferral
			// stays the host's reply (stepped), as before (deliv47).
			what := "next hop host answered out of step: its recipients go to the next host"
			if !queue.IsOutOfStep(left[0].Reply, left[0].NextHop) && !queue.IsStray(left[0].Reply, left[0].NextHop) {
				what = "next hop host ended the session before the message: its recipients go to the next host"
			}
			d.log.Info(what, "msg_id", m.ID.String(), "next_hop", h.String(), "reply", left[0].Reply)
			hand.drop() // closed by finishConn (the session out of step is never pooled)
			stand(ctx, &taken, kept)
			rest := *g
			rest.rcpts = again
			g = &rest
			stepped, steppedErr, outranked = left, left[0].Reply, false
			lastErr, lastHost = steppedErr, h.String()
			failedTemp = true
			continue
		}
		return res
	}
	telling()
	if len(stepped) > 0 && (!outranked || lastErr == steppedErr && lastHost == stepped[0].NextHop) {
		// The last host that answered those recipients answered out of
		// step or ended its session before their message (above), and
		// no host after it answered otherwise (those after it, if any,
		// could not be connected to): the recipients keep its results,
		// the host's own words and whether it answered — an answer out
		// of step is no failed contact of the destination, a 421 is one
		// (queue feedback), and either is what a dead mark then names.
		return requireTLSCarry(m, none, stepped)
	}
	if src.cut != "" && !failedTemp {
		lastErr += " (" + src.cut + ")" // hosts not looked up might take it: no bounce
		failedTemp = true
	}
	if refusal != "" && !failedTemp {
		// Every host that answered refused the session for good or lacks
		// what the message needs, and no other one could not be reached:
		// the message cannot go there. The last such host's own reply
		// is the recipients' (a DSN quotes it, naming the host).
		return failAll(g.rcpts, refusalHost, refusal)
	}
	notSent := requireTLSDefer(m, g.rcpts, dt.requireTLS, dt.tlsFailed, none, lastHost, lastErr)
	if !strings.HasPrefix(lastErr, queue.NotSentReply("")) {
		return notSent
	}
	for k := range notSent {
		// The hosts tried answered (they refused, or lacked what the
		// content needs): no failed contact of the destination, though
		// umbra's words name the host (queue feedback).
		notSent[k].Answered = true
	}
	return notSent
}

// requireTLSDefer defers rcpts when no host (or server of the route)
// took the message, with lastErr, the last one's error. For a REQUIRETLS
// message (requireTLS: the hop is a relay, which REQUIRETLS binds) that
// TLS kept from a host — in this attempt (kept: a TLS failure, STARTTLS
// refused, a reset, a certificate that does not verify; a host its
// policy kept it from before any session: policyDefer, filterHosts) or
// in an earlier one (the recipient's last reply is such a deferral) —
// the reply is the one REQUIRETLS form, "451 4.7.5 REQUIRETLS: no host
// of DEST offered verified TLS: <lastErr>", whatever the last host did
// (a refused connection): it may be a passing misconfiguration, retried
// on the schedule, and at expiry the recipient fails 550 5.7.10, not
// 5.4.7 (queue, results.go), TLS having been the obstacle. Its status is
// lastErr's own (replyStatus, as requireTLSCarry's): 4.7.5 when a host
// that answered refused on TLS (tlsStop), the network's 4.4.x when TLS
// kept the message from hosts only before any session (an enforced
// MTA-STS policy that does not list them) and the hosts left were down,
// which the scheduler counts against the destination. none is "no host
// of DEST" (remote.go) or "no server of QUEUE" (org.go).
func requireTLSDefer(m *queue.Message, rcpts []int, requireTLS, kept bool, none, lastHop, lastErr string) []queue.Result {
	out := deferAll(rcpts, lastHop, lastErr)
	if !requireTLS {
		return out
	}
	if kept && !strings.Contains(lastErr, requireTLSMark) {
		for k := range out {
			out[k].Reply = queue.RequireTLSReply(replyStatus(lastErr), none, lastErr)
		}
	}
	return requireTLSCarry(m, none, out)
}

// requireTLSCarry gives the REQUIRETLS form to each deferral in res, of
// an attempt that reached no host over verified TLS, whose recipient's
// last reply was one (an earlier attempt TLS kept from a host): see
// requireTLSDefer. The form keeps the reply's own status ("451 4.4.1
// REQUIRETLS: no host of … offered verified TLS: 451 4.4.1 connect to
// …"): TLS kept no host in this attempt, the network or DNS did, and the
// scheduler counts it so (queue feedback: a destination that does not
// answer shrinks its window and may be marked dead; 4.7.5 would not).
func requireTLSCarry(m *queue.Message, none string, res []queue.Result) []queue.Result {
	if !m.RequireTLS {
		return res
	}
	for k := range res {
		r := &res[k]
		if r.Outcome == queue.Deferred && r.Rcpt >= 0 && r.Rcpt < len(m.Rcpts) && !strings.Contains(r.Reply, requireTLSMark) &&
			strings.Contains(m.Rcpts[r.Rcpt].LastReply, requireTLSMark) {
			r.Reply = queue.RequireTLSReply(replyStatus(r.Reply), none, r.Reply)
		}
	}
	return res
}

// replyStatus is the code and enhanced status a reply starts with ("451
// 4.4.1"), "451 4.7.5" for one without.
func replyStatus(reply string) string {
	f := strings.Fields(reply)
	if len(f) >= 2 && len(f[0]) == 3 && f[0][0] == '4' && strings.Count(f[1], ".") == 2 && f[1][0] == '4' {
		return f[0] + " " + f[1]
	}
	return "451 4.7.5"
}

// tlsStop is the TLS policy refusal (451 4.7.5) that outranks the
// failures after it in one attempt, whether at a destination's MX hosts
// (deliverRemote) or a hop's servers (deliverOrg): the first one at a
// host that answered SMTP. A host that could not be reached after it (a
// backup refusing connections) does not make the reply a connection
// failure: the recipients, DSNs and the log keep what stopped the
// message, and the scheduler counts the attempt as the message's, not
// the destination's (queue feedback: a 4.7.5 kills no destination). A
// 4.7.5 before any session (a TLSA lookup that failed) ranks as any
// other failure: the last one stays.
type tlsStop struct{ reply, host string }

// note records the reply of host when it is the attempt's first TLS
// policy refusal at a host that answered.
func (s *tlsStop) note(reply, host string, answered bool) {
	if s.reply == "" && answered && strings.HasPrefix(reply, "451 4.7.5 ") {
		s.reply, s.host = reply, host
	}
}

// over is the attempt's reply and the host it names: the recorded
// refusal, else lastErr of lastHost.
func (s *tlsStop) over(lastErr, lastHost string) (string, string) {
	if s.reply != "" {
		return s.reply, s.host
	}
	return lastErr, lastHost
}

// requireTLSMark is in every deferral of a REQUIRETLS message for its
// TLS requirement ("451 4.7.5 REQUIRETLS: …"), which the queue's expiry
// reads (results.go).
const requireTLSMark = queue.RequireTLSMark

// mxLimit counts what one attempt spent of a send connector's
// mx_address_limit (addresses connected to, in preference order) and
// mx_session_limit (hosts among them that answered SMTP). Smart hosts are
// the operator's and not bounded; the domain's own addresses (no MX) are.
type mxLimit struct {
	maxAddresses, maxSessions int // 0: no bound
	addresses, sessions       int
}

func newMXLimit(sc config.SendConnector) mxLimit {
	if len(sc.SmartHosts) > 0 {
		return mxLimit{}
	}
	return mxLimit{maxAddresses: sc.MXAddressLimit, maxSessions: sc.MXSessionLimit}
}

// reached names the limit that stops the attempt before its next
// address, or "".
func (l *mxLimit) reached() string {
	switch {
	case l.maxAddresses > 0 && l.addresses >= l.maxAddresses:
		return "mx_address_limit " + strconv.Itoa(l.maxAddresses) + " reached"
	case l.maxSessions > 0 && l.sessions >= l.maxSessions:
		return "mx_session_limit " + strconv.Itoa(l.maxSessions) + " reached"
	}
	return ""
}

// answered marks a failed connection to a host that spoke SMTP: a
// greeting that refused, a TLS failure after EHLO, a refused login. It
// counts as a session (mx_session_limit); a host that never greeted
// (refused, unreachable, silent until the timeout) counts only as an
// address.
type answered struct{ error }

// tlsNotMetError is connectWith's refusal of a host whose TLS does not
// meet the connector's or the domain's policy: "451 4.7.5 <host>: <why>".
// Known by its type (tlsFailed), never by its words.
type tlsNotMetError struct{ msg string }

func (e *tlsNotMetError) Error() string { return e.msg }

// tlsNotMet is a tlsNotMetError of format and args after "451 4.7.5 ".
func tlsNotMet(format string, args ...any) error {
	return &tlsNotMetError{msg: "451 4.7.5 " + fmt.Sprintf(format, args...)}
}

func (a answered) Unwrap() error { return a.error }

// host is one address to try, with the name it was found under.
type host struct {
	name string
	addr string // ip:port
	pref int    // its MX preference (0: a smart host, the domain's own address)
}

// port is the TCP port of h's address (TLSA records are at _PORT._tcp).
func (h host) port() int {
	_, p, _ := net.SplitHostPort(h.addr)
	n, _ := strconv.Atoi(p)
	return n
}

func (h host) String() string {
	ip, port, _ := net.SplitHostPort(h.addr)
	return fmt.Sprintf("%s[%s]:%s", h.name, ip, port)
}

var errPermanent = errors.New("permanent")

// unresolvedHost is a mail host whose addresses could not be looked up,
// with its MX preference.
type unresolvedHost struct {
	resolver.HostLookup
	pref int
}

// destinations prepares the lookups of a group's next hops: smart
// hosts in random order (spreading load), or MX hosts by preference
// (random among equals), falling back to the domain's own address when
// it has no MX (RFC 5321 §5.1). Only the MX lookup is made here; the
// addresses are looked up as the attempt comes to them (hostSource.fill).
func (d *Deliverer) destinations(ctx context.Context, st *state, g *group) (*hostSource, []queue.Result) {
	if reply, ok := addressDomain(g.dom); ok {
		// A redirect's group keeps its recipient's domain; group judges
		// every other before any route.
		return nil, failAll(g.rcpts, g.dom, reply)
	}
	timeout, start := st.lookupTimeout(), time.Now()
	lctx, cancel := context.WithTimeout(ctx, timeout)
	names, prefs, implicit, err := nextHopNames(lctx, st.cfg.Resolver, g.conn.cfg.SmartHosts, g.dom)
	timedOut := lookupTimedOut(lctx, ctx, err)
	cancel()
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, errNullMX):
		return nil, failAll(g.rcpts, g.dom, "556 5.1.10 domain "+g.dom+" accepts no mail (null MX)")
	case err == nil:
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
	case ctx.Err() != nil:
		// Stopped, not failed: the lookup had no time to answer.
		return nil, deferAll(g.rcpts, g.dom, stopped("the MX lookup for "+g.dom))
	case timedOut:
		return nil, deferAll(g.rcpts, g.dom, "451 4.4.3 MX lookup for "+g.dom+" not answered within transport.mx_lookup_timeout "+timeout.String())
	default:
		return nil, deferAll(g.rcpts, g.dom, "451 4.4.3 MX lookup for "+g.dom+" failed: "+err.Error())
	}
	limit := 0
	if len(g.conn.cfg.SmartHosts) == 0 {
		limit = g.conn.cfg.MXAddressLimit
	}
	src := newHostSource(st.cfg.Resolver, names, prefs, strconv.Itoa(g.conn.cfg.Port), st.cfg.Hostname, st.cfg.OwnBindings, limit,
		timeout-time.Since(start), timeout)
	src.implicit = implicit
	src.numeric = func(name string) {
		if name == "." {
			d.log.Warn("MX record names the root, not a host, and is no null MX: skipped", "destination", g.dom, "mx", name, "send_connector", g.conn.cfg.Name)
			return
		}
		d.log.Warn("MX record names an IP address, not a host: skipped", "destination", g.dom, "mx", name, "send_connector", g.conn.cfg.Name)
	}
	return src, nil
}

// noAddress is the recipients' results when src found no host with an
// address (after its first fill), nil when it found one, or when this
// server was found among the hosts before its turn (nothingLeft decides).
func (d *Deliverer) noAddress(ctx context.Context, g *group, src *hostSource) []queue.Result {
	if len(src.hosts) > 0 {
		return nil
	}
	var failed []resolver.HostLookup
	for _, u := range src.unresolved {
		failed = append(failed, u.HostLookup)
	}
	last := ""
	if len(failed) > 0 {
		last = ": " + failed[len(failed)-1].Err.Error()
	}
	switch {
	case ctx.Err() != nil:
		return deferAll(g.rcpts, g.key, stopped("the address lookups for "+g.key))
	case src.timedOut:
		return deferAll(g.rcpts, g.key, "451 4.4.3 no address for any host of "+g.key+" looked up in time: "+src.cut+last)
	case src.cut != "":
		// The names not looked up may have addresses: no bounce.
		return deferAll(g.rcpts, g.key, "451 4.4.4 no address for the hosts of "+g.key+" looked up; "+src.cut+last)
	case src.self != nil:
		return nil // this server, found before its turn: nothingLeft decides
	case len(g.conn.cfg.SmartHosts) > 0:
		// A smart host is the operator's: its missing address is retried.
		return deferAll(g.rcpts, g.key, "451 4.4.4 no address for any host of "+g.key+last)
	}
	// The same reply route explain shows (tlspolicy.Explain): a
	// denial for every host bounces, naming the hosts and lookups
	// (5.1.2 only for a domain that does not exist); anything
	// temporary defers.
	reply, permanent := resolver.NoAddress(g.dom, src.implicit, failed)
	if permanent {
		return failAll(g.rcpts, g.dom, reply)
	}
	return deferAll(g.rcpts, g.key, reply)
}

// lookupCut: res, the deferral of lookups under untilExpiry, is the
// message's expiry's — it came while they waited, and they answered
// nothing that fails the recipients for good (a null MX, a domain
// without an address: that answer stands).
func lookupCut(ctx context.Context, res []queue.Result) bool {
	return len(res) > 0 && res[0].Outcome == queue.Deferred && queue.PastExpiry(ctx)
}

// errNullMX: the domain publishes a null MX (RFC 7505), it takes no mail.
var errNullMX = errors.New("null MX")

// nextHopNames lists the names to look up for mail to dom: the smart
// hosts in random order (spreading load), or the MX hosts by preference
// (random among equals) with their preferences, or the domain itself
// when it has no MX (implicit; RFC 5321 §5.1; the error then is the
// MX lookup's not-found, which callers take as no MX). errNullMX: a null
// MX (resolver.NullMX: one record, preference 0, exchange "."); a "."
// exchange otherwise is listed as "." and skipped (resolver.RootMX).
func nextHopNames(ctx context.Context, r Resolver, smartHosts []string, dom string) (names []string, prefs []int, implicit bool, err error) {
	if len(smartHosts) > 0 {
		names = append(names, smartHosts...)
		rand.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
		return names, nil, false, nil
	}
	mxs, err := r.LookupMX(ctx, dom)
	var dnsErr *net.DNSError
	switch {
	case err == nil && resolver.NullMX(mxs):
		return nil, nil, false, errNullMX
	case err == nil && len(mxs) > 0:
		sort.SliceStable(mxs, func(i, j int) bool { return mxs[i].Pref < mxs[j].Pref })
		for i := 0; i < len(mxs); {
			j := i
			for j < len(mxs) && mxs[j].Pref == mxs[i].Pref {
				j++
			}
			same := mxs[i:j]
			rand.Shuffle(len(same), func(a, b int) { same[a], same[b] = same[b], same[a] })
			i = j
		}
		for _, mx := range mxs {
			n := strings.TrimSuffix(mx.Host, ".")
			if n == "" {
				n = "." // the root, no host: skipped (hostSource.lookup)
			}
			names = append(names, n)
			prefs = append(prefs, int(mx.Pref))
		}
		return names, prefs, false, nil
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound || err == nil:
		return []string{dom}, nil, true, err // no MX: the domain itself
	}
	return nil, nil, false, err
}

// stopped is the reply of a delivery the server's stop cut short during
// what: a 4.3.2 "shutting down", which does not count against the
// destination's window (queue's feedback), not a failed lookup.
func stopped(what string) string {
	return queue.StoppedDuring + what
}

// authFailed is a login the next hop refused (err holds its reply, a
// *gosmtp.SMTPError when it answered): the server is up and speaking.
// The message is the delivery's reply.
type authFailed struct {
	msg string
	err error
	// peerDigest is the database digest the server advertised before the
	// login (XSHADOWDB): a primary that refuses this server's login still
	// tells it that its database changed (rt15 N1).
	peerDigest string
}

func (e *authFailed) Error() string { return e.msg }
func (e *authFailed) Unwrap() error { return e.err }

type openingRcptsKey struct{}

// withOpeningRcpts gives ctx the recipients a session opened under it
// is for: its opening marks them (queue.InOpening).
func withOpeningRcpts(ctx context.Context, rcpts []int) context.Context {
	return context.WithValue(ctx, openingRcptsKey{}, rcpts)
}

// openingRcpts is the recipients withOpeningRcpts gave ctx; none
// outside a group's delivery (a probe, a verification callout).
func openingRcpts(ctx context.Context) []int {
	r, _ := ctx.Value(openingRcptsKey{}).([]int)
	return r
}

func (d *Deliverer) connect(ctx context.Context, st *state, sc *sendConnector, h host) (*smtp.Client, error) {
	return d.connectWith(ctx, st, sc, h, nil, nil)
}

// connectWith connects to h under the connector's TLS setting, or the
// destination's DANE or MTA-STS decision for it (tlsout.go).
func (d *Deliverer) connectWith(ctx context.Context, st *state, sc *sendConnector, h host, dt *destTLS, dec *tlspolicy.Decision) (*smtp.Client, error) {
	policy := map[string]smtp.TLSPolicy{config.TLSNone: smtp.TLSNone, config.TLSOpportunistic: smtp.TLSOpportunistic,
		config.TLSRequired: smtp.TLSRequired, config.TLSVerify: smtp.TLSVerify}[sc.cfg.TLS]
	var verr error
	policy, verify := tlsOptions(policy, dec, &verr)
	if dec == nil {
		policy = dt.atLeastOpportunistic(h.name, policy)
	}
	// Opening is cut at the message's expiry (expiryopen.go); the
	// message's own ctx is still the one every reply waits under.
	octx, opened := untilExpiry(ctx)
	defer opened()
	for attempt := 0; attempt < 2; attempt++ {
		connected := queue.AwaitingPeer(ctx) // connecting runs nothing on the message (queue/peerwait.go)
		nc, err := st.dial(octx, sc, "tcp", h.addr)
		if err != nil {
			connected()
			return nil, errors.New(queue.ConnectFailedReply(h.String(), err))
		}
		// The connection is accepted: a delay notice meanwhile names the
		// host and the step of the opening it has not answered
		// (queue.InOpening), not "no host has replied yet".
		rcpts, opening := openingRcpts(ctx), func() {}
		c, err := smtp.NewClient(octx, nc, smtp.ClientOptions{LocalName: st.cfg.Hostname, ServerName: h.name, TLS: policy,
			RootCAs: st.cfg.TLSConfig, CommandTimeout: st.cfg.CommandTimeout, DataTimeout: st.cfg.DataTimeout,
			VerifyConnection: verify, OnStage: func(stage string) {
				opening()
				opening = queue.InOpening(ctx, rcpts, h.String(), stage)
			}})
		opening()
		connected()
		if err != nil && octx.Err() != nil && ctx.Err() == nil {
			// The message's expiry closed the opening, not the host: no
			// TLS failure to report, no plaintext retry (deliverRemote
			// answers it as expired).
			return nil, errors.New(queue.OpeningFailedReply(openingStage(err), h.String(), "closed at the message's expiry"))
		}
		if errors.Is(err, smtp.ErrTLSUnavailable) && policy == smtp.TLSOpportunistic {
			if dt != nil {
				dt.report(dec, h.name, nil, tlsFailure(verr, err))
			}
			policy, verify = smtp.TLSNone, nil // the handshake failed: plaintext, as opportunistic TLS allows
			continue
		}
		if errors.Is(err, smtp.ErrTLSUnavailable) {
			d.observeTLSFailure(sc.destination(), sc.cfg.TLS)
			if dt != nil {
				dt.tlsFailed = true
				dt.report(dec, h.name, nil, tlsFailure(verr, err))
				if dec != nil {
					return nil, answered{tlsNotMet("%s: %s policy of %s: %s", h, dec.Source, dt.dom, tlspolicy.Describe(dec, h.name, verr, err))}
				}
			}
			return nil, answered{tlsNotMet("%s: %s", h, tlspolicy.Describe(nil, h.name, verr, err))}
		}
		if err != nil {
			e := errors.New(queue.OpeningFailedReply(openingStage(err), h.String(), smtp.Reply(err)))
			if se := (*gosmtp.SMTPError)(nil); errors.As(err, &se) {
				// It greeted, with a refusal (at the greeting or EHLO).
				return nil, answered{&openingReply{msg: e.Error(), reply: smtp.Reply(err), permanent: smtp.Permanent(err)}}
			}
			return nil, e
		}
		c.SetHop(h.String())
		c.Assurance = assurance(h, c, policy, verify, dt, dec, verr) // what a pooled reuse is checked against (pooledMeets)
		d.observeSession(sc.destination(), c, sc.cfg.TLS)
		if dt != nil && attempt == 0 {
			dt.report(dec, h.name, c, verr)
		}
		if sc.cfg.Auth.Username != "" {
			authed := queue.AwaitingPeer(ctx)                    // the login's replies: the next hop's time, as connecting is
			cut := context.AfterFunc(octx, func() { c.Close() }) // the expiry ends the login too
			err := c.Login(sc.cfg.Auth.Username, sc.password)    // smtp/clientauth.go: only as offered, only over TLS
			expired := !cut()
			if expired && err == nil {
				err = octx.Err() // logged in as the expiry closed the session
			}
			authed()
			if err != nil {
				digest := c.PeerDatabaseDigest() // the EHLO after STARTTLS: the channel XSHADOW would have used
				if !expired {
					quit(ctx, c) // in step after a refusal or a login not attempted; a broken reply gets none (QuitBounded)
				}
				c.Close()
				return nil, answered{&authFailed{msg: queue.AuthFailedReply(h.String(), smtp.Reply(err)), err: err, peerDigest: digest}}
			}
		}
		return c, nil
	}
	return nil, answered{tlsNotMet("%s: STARTTLS failed", h)}
}

// openingReply is a host's answer that refused the session at its
// greeting or at EHLO (the message is umbra's words for a deferral,
// naming the step and the host; reply is the host's own). A permanent
// one (5xx) is the host's refusal, as a 5xx at MAIL or RCPT is: the
// next host is tried, and where every host tried refused for good the
// recipients fail with the host's own reply (deliverRemote).
type openingReply struct {
	msg, reply string
	permanent  bool
}

func (e *openingReply) Error() string { return e.msg }

// openingStage names the step of a session's opening err happened at
// (smtp.Stage), "greeting" for an error before any reply was read whole.
func openingStage(err error) string {
	if s := smtp.Stage(err); s != "" {
		return s
	}
	return "greeting"
}

// addressDomain is the reply to mail for a domain that is an address
// literal or IP-address text (a sender's, for its DSN; RCPT refuses
// both): umbra routes by domain — through a smart host too, which would
// only be handed the question (rt26 F6) — and DNS is never asked about
// it: a resolver takes "192.0.2.1" for that address, which no policy
// allowed. ok is false for a domain name.
func addressDomain(dom string) (reply string, ok bool) {
	if !strings.HasPrefix(dom, "[") && !mailaddr.IPText(dom) {
		return "", false
	}
	what := "an address literal"
	if !strings.HasPrefix(dom, "[") {
		what = "an IP address, not a domain name"
	}
	return "550 5.1.2 " + dom + " is " + what + ": umbra delivers to domains only", true
}
