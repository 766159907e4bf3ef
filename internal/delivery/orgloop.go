package delivery

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"umbra/internal/header"
	"umbra/internal/mailaddr"
	"umbra/internal/queue"
	"umbra/internal/routing"
)

// An organisation loop (ops49 F1): this server would relay a message to
// a server of the organisation it has been at before. In one consistent
// topology least-cost routing never sends a message back to the server
// it came from (a subpath of a least-cost path is least-cost): when this
// server's route says so for a message that was here before, this
// server's topology and that server's disagree (a rollout that reached
// one of them first), or an operator's redirect or a connector's smart
// host points back. Relaying would send the message round until the hop
// limit failed it, and its DSN after it: mail destroyed in under a
// second. So the recipients are deferred here with 451 4.4.6 naming both
// servers (OrgLoopReply), as a smart host that is this server itself is
// (self.go): the mail waits while the topologies are made to agree, and
// goes by the route of the next attempt. A WARN says it, once a minute
// per pair of servers (orgLoopWarn); the deferral is counted in
// umbra_delivery_routing_loops_total (queue.RoutingLoop reads it).
//
// The check needs both facts: the message came from that server
// (messageOrigin, the authenticated previous hop), and this server's
// own trace field is in it twice or more, the earlier one among the
// fields only servers of the organisation wrote (it is being received
// here the second time, and went round the organisation only:
// visitedBefore; a sender's forged fields do not count). The first alone is no loop: a group
// expanded here whose member is in the sender's site, a mailbox
// server's submission whose recipient is on it, a copy taken over from
// a primary all go back legitimately. Final delivery into a mailbox
// database is not relaying and is never held here.
//
// A ring of three or more servers (A → B → C → A) comes back from
// another server than it went to; the hop limit stops it
// (hopLimit), and when every hop of the loop is a server of the
// organisation — it came from one, goes to one, and was here before —
// that too defers with 4.4.6 instead of failing (OrgRingReply).

// orgLoopPace is how often the WARN of one pair of servers repeats.
const orgLoopPace = time.Minute

// OrgLoopReply is the deferral of a relay back to the server of the
// organisation the message came from: "451 4.4.6 routing loop: next hop
// ORIGIN is the server this message came from (…)". It names ORIGIN as
// queue.RoutingLoop reads a loop.
func OrgLoopReply(me, origin string) string {
	return fmt.Sprintf("451 4.4.6 routing loop: next hop %s is the server this message came from, and it was here before: the topologies of %s and %s disagree (or a redirect points back); it waits here until this server's route changes (a reload here) or it expires", origin, me, origin)
}

// OrgRingReply is the deferral at the hop limit of a message going round
// servers of the organisation only.
func OrgRingReply(next string, n, max int) string {
	return fmt.Sprintf("451 4.4.6 routing loop: next hop %s: %d Received: headers, max_hop_count %d, and the message goes round servers of the organisation (it was here before): their topologies disagree; it waits here until this server's route changes (a reload here) or it expires", next, n, max)
}

// visitedBefore reports whether body carries this server's trace field
// (by HOST (umbra)) more than once, the earlier one among the fields
// the organisation's servers wrote: the message was received here
// before the receipt that stored it, and went round servers of the
// organisation only since. The fields are read from the top, this
// server's receipt, down: each was written by the server the field
// above names as its client (its address literal, which the writer
// takes from the connection, never from the client), so a field is
// trusted only while the field above came from a server of the
// topology (tp.ServerFrom) and was written by umbra. Below the
// organisation's first receipt from elsewhere the trace is the
// sender's to write (rdops49): forged "by HOST (umbra)" fields must
// neither hold mail that legitimately goes back to the server it came
// from nor make a loop through the internet (an MX pointing back) wait
// instead of failing at the hop limit.
func visitedBefore(tp *routing.Topology, body []byte, hostname string) bool {
	host := strings.TrimSuffix(hostname, ".")
	if tp == nil || host == "" {
		return false
	}
	for k, v := range header.Values(body, "Received") {
		by, from, ok := umbraTrace(v)
		if !ok {
			return false // not umbra's: nothing below is the organisation's to vouch for
		}
		mine := strings.EqualFold(strings.TrimSuffix(by, "."), host)
		switch {
		case k == 0 && !mine:
			return false // the top field is not this server's receipt
		case k > 0 && mine:
			return true
		}
		if !from.IsValid() || tp.ServerFrom(from) == "" {
			return false // received from outside the organisation
		}
	}
	return false
}

// umbraTrace reads a trace field umbra writes (internal/smtp session.go:
// "from HELO ([ADDR]) by HOST (umbra) with …"): HOST, and ADDR, the
// client's address literal (invalid when there is none, as in a
// pickup's). ok is false for a field umbra did not write.
func umbraTrace(v string) (by string, from netip.Addr, ok bool) {
	f := strings.Fields(v)
	for k := 0; k+2 < len(f); k++ {
		if !strings.EqualFold(f[k], "by") || f[k+2] != "(umbra)" {
			continue
		}
		// The literal is the last comment before "by": a HELO is one word.
		for j := k - 1; j > 0; j-- {
			lit, pre := strings.CutPrefix(f[j], "([")
			lit, suf := strings.CutSuffix(lit, "])")
			if !pre || !suf {
				continue
			}
			lit, _ = mailaddr.CutIPv6Tag(lit)
			if ip, err := netip.ParseAddr(lit); err == nil {
				from = ip.Unmap()
			}
			break
		}
		return f[k+1], from, true
	}
	return "", netip.Addr{}, false
}

// nextServer names the one server of the organisation g relays to: the
// only server of its first organisation hop (not a mailbox database's
// final delivery), or the server a relay's smart hosts all are
// (relayServer: a redirect, a connector whose smart host is a server of
// the topology). "" when there is none, or several.
func nextServer(st *state, g *group) string {
	switch {
	case g.key == "local":
		return ""
	case g.hops != nil:
		h := g.hops[0]
		if h.Kind == routing.HopMailbox || len(h.Servers) != 1 {
			return ""
		}
		return h.Servers[0]
	}
	if relayLeavesOrganisation(st, g) {
		return ""
	}
	return relayServer(st, g)
}

// orgLoop defers g's recipients when relaying them would send m back
// to the server of the organisation it came from, where it was before
// (see above). nil when it would not.
func (d *Deliverer) orgLoop(st *state, m *queue.Message, body []byte, g *group) []queue.Result {
	tp := st.cfg.Topology
	if tp == nil {
		return nil
	}
	next := nextServer(st, g)
	if next == "" {
		return nil
	}
	origin := messageOrigin(tp, m)
	if origin == "" || originLostIt(st, m, origin) || !strings.EqualFold(origin, next) || !visitedBefore(tp, body, st.cfg.Hostname) {
		return nil
	}
	d.warnOrgLoop(st.cfg.LocalServer, origin, "the message came back from the server this one would relay it to: the two servers' topologies disagree (or a redirect points back); it waits here (451 4.4.6) until this server's route changes (a reload here) or it expires",
		"msg_id", m.ID.String(), "queue", g.queue)
	return inQueue(deferAll(g.rcpts, origin, OrgLoopReply(st.cfg.LocalServer, origin)), g.queue)
}

// orgRing is hopLimit's deferral of a ring of servers of the
// organisation: m came from one, g relays to one, and m was here before.
// nil when that is not the case (the hop limit fails it).
func (d *Deliverer) orgRing(st *state, m *queue.Message, body []byte, g *group, n int) []queue.Result {
	tp := st.cfg.Topology
	if tp == nil {
		return nil
	}
	next := nextServer(st, g)
	if next == "" && g.hops != nil && g.hops[0].Kind != routing.HopMailbox && len(g.hops[0].Servers) > 0 {
		next = strings.Join(g.hops[0].Servers, ",")
	}
	origin := messageOrigin(tp, m)
	if next == "" || origin == "" || !visitedBefore(tp, body, st.cfg.Hostname) {
		return nil
	}
	d.warnOrgLoop(st.cfg.LocalServer, origin, "a message goes round servers of the organisation: it reached the hop limit, came from one and would go to another, and was here before: their topologies disagree; it waits here (451 4.4.6) until this server's route changes (a reload here) or it expires",
		"msg_id", m.ID.String(), "next_hop", next, "received_headers", n, "max_hop_count", st.cfg.MaxHopCount, "queue", g.queue)
	return inQueue(deferAll(g.rcpts, next, OrgRingReply(next, n, st.cfg.MaxHopCount)), g.queue)
}

func (d *Deliverer) warnOrgLoop(me, origin, msg string, args ...any) {
	key := strings.ToLower(me) + "\x00" + strings.ToLower(origin)
	now := time.Now()
	if v, ok := d.orgLoopWarned.Load(key); ok && now.Sub(v.(time.Time)) < orgLoopPace {
		return
	}
	d.orgLoopWarned.Store(key, now)
	d.log.Warn(msg, append([]any{"server", me, "came_from", origin}, args...)...)
}

// inQueue shows results in the queue of their group.
func inQueue(res []queue.Result, q string) []queue.Result {
	for k := range res {
		res[k].Queue = q
	}
	return res
}
