package delivery

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"umbra/internal/config"
	"umbra/internal/orgid"
	"umbra/internal/queue"
	"umbra/internal/routing"
	"umbra/internal/smtp"
	"umbra/internal/tlspolicy"

	gosmtp "github.com/emersion/go-smtp"
)

// failedSkip is how long a server that did not answer is tried last
// among its site's servers.
const failedSkip = time.Minute

// balancer spreads relays over the servers of a site and remembers
// which ones failed recently.
type balancer struct {
	mu     sync.Mutex
	next   map[string]int       // per site: the server to start with
	failed map[string]time.Time // per address: failed until
}

func newBalancer() *balancer {
	return &balancer{next: map[string]int{}, failed: map[string]time.Time{}}
}

// order returns a hop's servers starting at the site's round-robin
// position, servers that failed recently last.
func (b *balancer) order(h routing.NextHop) (names, addrs []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(h.Addresses)
	if n == 0 {
		return nil, nil
	}
	start := b.next[h.Site] % n
	b.next[h.Site]++
	var lateN, lateA []string
	now := time.Now()
	for i := 0; i < n; i++ {
		k := (start + i) % n
		if now.Before(b.failed[h.Addresses[k]]) {
			lateN, lateA = append(lateN, h.Servers[k]), append(lateA, h.Addresses[k])
			continue
		}
		names, addrs = append(names, h.Servers[k]), append(addrs, h.Addresses[k])
	}
	return append(names, lateN...), append(addrs, lateA...)
}

// hopDown reports whether no server of a relay next hop answers now:
// each failed a connection within failedSkip, or is marked unresponsive
// (queue.Health: failed heartbeats, a refused copy). A shared copy does
// not go to such a hop's site (orgRoutes, rt56 F1).
func (d *Deliverer) hopDown(h routing.NextHop) bool {
	if h.Kind != routing.HopRelay || len(h.Addresses) == 0 {
		return false
	}
	now := time.Now()
	d.bal.mu.Lock()
	defer d.bal.mu.Unlock()
	for i, a := range h.Addresses {
		failed := now.Before(d.bal.failed[a])
		if !failed && (i >= len(h.Servers) || !d.health.Unhealthy(h.Servers[i], a, refusedKey(h.Servers[i]))) {
			return false
		}
	}
	return true
}

func (b *balancer) fail(addr string) {
	b.mu.Lock()
	b.failed[addr] = time.Now().Add(failedSkip)
	b.mu.Unlock()
}

func (b *balancer) ok(addr string) {
	b.mu.Lock()
	delete(b.failed, addr)
	b.mu.Unlock()
}

// orgQueue names the queue of a route inside the organisation.
func orgQueue(h routing.NextHop) string {
	switch h.Kind {
	case routing.HopMailbox:
		return "mailbox:" + h.Database
	case routing.HopLegacy:
		return "legacy:" + strings.Join(h.Servers, ",")
	}
	return "site:" + h.Site
}

// topoConnector is the send connector a topology route names: the server
// configuration's connector of that name (TLS, auth, port), or one made
// from the topology's smart hosts with opportunistic TLS.
func (st *state) topoConnector(name string) *sendConnector {
	if sc := st.conns[name]; sc != nil {
		return sc
	}
	return &sendConnector{cfg: InheritTopology(unwrittenConnector(name), st.cfg.Topology)}
}

// unwrittenConnector is the settings of a topology send connector the
// server's configuration does not write: port 25, opportunistic TLS, the
// default MX limits (InheritTopology adds the topology's smart hosts and
// size).
func unwrittenConnector(name string) config.SendConnector {
	return config.SendConnector{Name: name, Port: config.DefaultSMTPPort, TLS: config.TLSOpportunistic,
		MXAddressLimit: config.DefaultMXAddressLimit, MXSessionLimit: config.DefaultMXSessionLimit}
}

// TopologyConnector is the send connector delivery uses for the
// topology's connector named name (topoConnector): the configuration's
// connector of that name (conns) as InheritTopology resolves it, or the
// topology's alone with the settings of one not written.
func TopologyConnector(conns []config.SendConnector, topo *routing.Topology, name string) config.SendConnector {
	for _, sc := range conns {
		if sc.Name == name {
			return InheritTopology(sc, topo)
		}
	}
	return InheritTopology(unwrittenConnector(name), topo)
}

// deliverOrg relays a group along its route: each next hop in order
// (queue at point of failure), each hop's servers in balanced order.
func (d *Deliverer) deliverOrg(ctx context.Context, st *state, m *queue.Message, body []byte, g *group) (out []queue.Result) {
	var hand inHand // the session held now, closed by a panic (inhand.go)
	defer hand.closeAtPanic()
	// The results that stand of a reused session some recipients of
	// which it answered out of step (reuse's again), those going on a
	// fresh connection: part of every result of the attempt.
	var taken []queue.Result
	defer func() {
		if len(taken) > 0 {
			out = append(taken, out...)
		}
	}()
	if len(g.hops) > 0 && g.hops[0].Kind == routing.HopMailbox {
		dup, rest := suppressDuplicates(st, m, g.db, g.rcpts, g.queue, mailboxDelivered)
		if len(rest) == 0 {
			return dup
		}
		if len(dup) > 0 {
			cp := *g
			cp.rcpts = rest
			return append(dup, d.deliverOrg(ctx, st, m, body, &cp)...)
		}
	}
	carried := m.Carried()
	if len(g.hops) > 0 && !slices.ContainsFunc(g.hops, func(h routing.NextHop) bool { return h.Kind != routing.HopMailbox }) {
		carried.Repeat = false // a mark for the next hub of the organisation, not for a mailbox server
		carried.Grown = 0      // likewise: the next hub's size limits
	}
	parts := orgid.PartsRecord(carried, body) // the id (and origin) lines in front, the stored body not copied
	if len(g.hops) > 0 && g.hops[0].Kind == routing.HopMailbox && idOnlyAtFinalDelivery(m) {
		parts = orgid.Parts(m.OrgID, body) // into a mailbox: a DSN carries its id line only
	}
	lastErr, lastHop := queue.NoServerAnsweredReply, g.queue
	var stepped []queue.Result      // the results of the recipients a server answered out of step, gone on to the next server
	outranked := false              // a server after it answered, or umbra decided: its reply stands (deliverRemote's)
	relays, tlsKept := false, false // a hop REQUIRETLS binds; TLS kept the message from a server (requireTLSDefer)
	var stop tlsStop                // the TLS refusal that outranks the failures after it (as deliverRemote's)
	for _, h := range g.hops {
		relays = relays || h.Kind != routing.HopMailbox
		names, addrs := d.bal.order(h)
		names, addrs = orderOrg(d.health, names, addrs)
		if len(addrs) == 0 {
			lastErr, lastHop = queue.NoServerInSiteReply(h.Site), g.queue // no server of it tried: no host's words
			outranked = true
			continue
		}
		for k, addr := range addrs {
			if queue.PastExpiry(ctx) {
				// The message expired during the attempt: no session to
				// another server opens for it (expiryopen.go).
				return expiredUnsent(g.rcpts)
			}
			key := "org:" + addr
			lmtp := h.Kind == routing.HopMailbox
			ctx := ctx
			if !lmtp {
				// A hub's SIZE is its max_message_size, the limit it
				// holds the sender's message to: umbra's own fields
				// are not counted (hopSizeRefusal, heldSize).
				ctx = withHeldSize(ctx, limitSize(st, m, body))
			}
			// A REQUIRETLS message is relayed only over TLS whose
			// certificate verifies for the server's name, to a server
			// that offers REQUIRETLS (RFC 8689 §4.2.1), inside the
			// organisation too: a hub reached in clear would not even
			// see the flag (offered only over TLS) and send the message
			// on with no TLS requirement. Never on a pooled session,
			// whose TLS was not decided for it. Final delivery (LMTP to
			// the mailbox server) is no relay.
			requireTLS := m.RequireTLS && !lmtp
			via := ""
			if h.Kind == routing.HopRelay {
				via = loginVia(st, names[k], addr)
			}
			if pc := d.takeIdle(key, st); pc != nil {
				hand.take(pc.c)
				// The session meets the connector a relay logs in
				// through (its tls setting), as a fresh one would
				// (rt17d F1); REQUIRETLS is never sent on a pooled one.
				meets := !requireTLS && (via == "" || needOf(st.conns[via].cfg.TLS, nil).metBy(pc.c))
				// A taken-over copy goes only on a session that holds a
				// shadow session, or on one opened for it (openShadow: the
				// clone rule, and the note a plain relay leaves): a
				// session kept from a plain relay never carries it.
				meets = meets && (h.Kind != routing.HopRelay || pc.c.ShadowDB != "" || !queue.TakenOverIn(m, g.rcpts))
				if pc.c.Alive() && meets { // no NOOP round trip; no RSET: go-smtp would send EHLO again after it
					res, again, ok := d.reuse(ctx, st, key, pc, m, parts, g.rcpts, h.Kind == routing.HopMailbox)
					hand.drop() // pooled or closed by reuse
					if ok && len(again) == 0 {
						return res
					}
					if ok {
						// Out of step beside results that stand: those
						// recipients alone go on a fresh connection (as
						// deliverRemote), committed before it opens (stand).
						stand(ctx, &taken, res)
						fresh := *g
						fresh.rcpts = again
						g = &fresh
					}
				} else {
					hand.drop()
					pc.c.Close()
				}
			}
			var c *smtp.Client
			if via != "" {
				// A relay to another transport server logs in through the
				// send connector that logs in to it, as every session to a
				// transport server does (loginVia): a server that knows its
				// peers only by login would otherwise take the relay for a
				// client's, refuse its shadow session and remove the umbra
				// headers (a new organisation id, which no duplicate check
				// can match).
				var err error
				sc := st.conns[via]
				if requireTLS && sc.cfg.TLS != config.TLSVerify {
					cp := *sc
					cp.cfg.TLS = config.TLSVerify
					sc = &cp
				}
				srv := host{name: names[k], addr: addr}
				if c, err = d.connect(withOpeningRcpts(ctx, g.rcpts), st, sc, srv); err != nil && queue.PastExpiry(ctx) {
					return expiredUnsent(g.rcpts) // its opening cut by the expiry (expiryopen.go)
				} else if err != nil {
					// Its words name the server as srv.String(): the hop the
					// queue's DSN finds it by, to quote a refusal as the
					// server's own reply (queue openingHostReply).
					d.bal.fail(addr)
					lastErr, lastHop = err.Error(), srv.String()
					if requireTLS && strings.HasPrefix(lastErr, "451 4.7.5 ") {
						lastErr = "451 4.7.5 REQUIRETLS: no verified TLS to " + strings.TrimPrefix(lastErr, "451 4.7.5 ")
						tlsKept = true
					}
					stop.note(lastErr, lastHop, errors.As(err, new(answered)))
					outranked = outranked || errors.As(err, new(answered))
					continue
				}
			} else {
				hop := names[k] + "[" + addr + "]"   // as c.Hop() below: a refusal is quoted by it (queue openingHostReply)
				connected := queue.AwaitingPeer(ctx) // connecting runs nothing on the message (queue/peerwait.go)
				octx, opened := untilExpiry(ctx)     // the opening cut at the message's expiry (expiryopen.go)
				nc, err := st.dial(octx, nil, "tcp", addr)
				if err != nil {
					opened()
					connected()
					if queue.PastExpiry(ctx) {
						return expiredUnsent(g.rcpts)
					}
					d.bal.fail(addr)
					lastErr, lastHop = queue.ConnectFailedReply(hop, err), hop
					continue
				}
				policy := smtp.TLSOpportunistic
				switch {
				case lmtp:
					policy = smtp.TLSNone
				case requireTLS:
					policy = smtp.TLSVerify
				}
				c, err = smtp.NewClient(octx, nc, smtp.ClientOptions{LocalName: st.cfg.Hostname, ServerName: names[k], TLS: policy,
					RootCAs: st.cfg.TLSConfig, CommandTimeout: st.cfg.CommandTimeout, DataTimeout: st.cfg.DataTimeout, LMTP: lmtp})
				opened()
				connected()
				if err != nil && queue.PastExpiry(ctx) {
					return expiredUnsent(g.rcpts)
				}
				if err == nil && policy == smtp.TLSVerify && c.TLS {
					c.Assurance = smtp.Assurance{Host: names[k], Addr: addr, Verified: checkVerify}
				}
				if err != nil && requireTLS && errors.Is(err, smtp.ErrTLSUnavailable) {
					// Retried (the server's TLS may be mid-change); at
					// expiry the recipients fail with 5.7.10 (queue).
					d.bal.fail(addr)
					lastErr, lastHop = "451 4.7.5 REQUIRETLS: no verified TLS to "+hop+": "+tlspolicy.Describe(nil, names[k], nil, err), hop
					tlsKept, outranked = true, true
					stop.note(lastErr, lastHop, true) // it greeted and answered EHLO
					continue
				}
				if err != nil {
					d.bal.fail(addr)
					lastErr, lastHop = queue.OpeningFailedReply(openingStage(err), hop, smtp.Reply(err)), hop
					// Only a refusal it greeted or answered EHLO with
					// outranks a server before it that answered out of
					// step; a server that accepted the connection and
					// said nothing (a break, a timeout) no more than one
					// refused (deliverRemote's connectWith: answered).
					outranked = outranked || errors.As(err, new(*gosmtp.SMTPError))
					continue
				}
			}
			hand.take(c)
			d.bal.ok(addr)
			d.health.Responsive(names[k], addr)
			c.SetHop(names[k] + "[" + addr + "]")
			if requireTLS {
				if res := requireTLSRefusal(ctx, c, c.Hop(), m, g.rcpts); res != nil {
					return res
				}
			}
			d.orgSession(h.Kind, c)
			plain := false // relayed without a shadow session (openShadow)
			if !lmtp && h.Kind == routing.HopRelay {
				// Inside the organisation: whenever shadowing is on. A
				// server whose contacts are refused here gets no relay.
				why, p := d.openShadow(ctx, st, c, names[k], queue.TakenOverIn(m, g.rcpts))
				plain = p
				if res := shadowOpeningCut(ctx, c, c.Hop(), g.rcpts); res != nil {
					return res
				}
				if why != "" {
					hand.drop()
					quit(ctx, c)
					d.log.Info(skippedWhy(why), "msg_id", m.ID.String(), "next_hop", c.Hop(), "reply", why)
					lastErr, lastHop = why, names[k]
					outranked = true
					continue
				}
				if res := d.selfRelay(c, c.Hop(), g.rcpts); res != nil {
					return res
				}
			}
			bodies := c.BodiesBegun()
			res := d.transaction(ctx, st, c, c.Hop(), m, parts, g.rcpts, lmtp)
			if h.Kind == routing.HopRelay {
				d.relayStorage(names[k], res)
			}
			if plain {
				// Relayed without a shadow session (the server refused
				// it, shadow redundancy off there): a taken-over copy's
				// primary is told (queue takendone.go, shfix27 F1).
				for i := range res {
					if res[i].Outcome == queue.RelayedOK {
						res[i].RelayedTo = names[k]
					}
				}
			}
			d.finishConn(st, key, c, res) // kept for the next message to this server
			if kept, again, left := nextHostFor(res, c.BodiesBegun() == bodies); len(again) > 0 && ctx.Err() == nil && !queue.PastExpiry(ctx) {
				// Out of step (or a stray reply, a 421, a break) on this
				// fresh session before those recipients' message went to
				// the server: they go on to the route's next server in
				// this attempt, as deliverRemote's go to the next MX host
				// (deliv47, deliv48).
				what := "next hop server answered out of step: its recipients go to the next server"
				if !queue.IsOutOfStep(left[0].Reply, left[0].NextHop) && !queue.IsStray(left[0].Reply, left[0].NextHop) {
					what = "next hop server ended the session before the message: its recipients go to the next server"
				}
				d.log.Info(what, "msg_id", m.ID.String(), "next_hop", c.Hop(), "reply", left[0].Reply)
				hand.drop() // closed by finishConn (the session out of step is never pooled)
				stand(ctx, &taken, kept)
				rest := *g
				rest.rcpts = again
				g = &rest
				stepped, outranked = left, false
				lastErr, lastHop = left[0].Reply, left[0].NextHop
				continue
			}
			return res
		}
	}
	if len(stepped) > 0 && (!outranked || lastErr == stepped[0].Reply && lastHop == stepped[0].NextHop) {
		// The last server that answered those recipients answered out
		// of step or ended its session before their message, and none
		// after it answered otherwise (those after it, if any, could
		// not be connected to): its recipients keep its results (the
		// server's own words, and whether it answered: deliverRemote).
		return stepped
	}
	lastErr, lastHop = stop.over(lastErr, lastHop)
	return requireTLSDefer(m, g.rcpts, m.RequireTLS && relays, tlsKept, "no server of "+g.queue, lastHop, lastErr)
}
