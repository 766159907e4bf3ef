package delivery

import (
	"net"
	"strconv"
	"strings"

	"umbra/internal/config"
	"umbra/internal/mailaddr"
	"umbra/internal/routing"
)

// leavesOrganisation: a send connector's next hop (smart host or MX) is
// outside the organisation, so the copy sent there carries no umbra
// header (package orgid): an outsider who saw an organisation id could
// otherwise hand it back through a trusting connector and have the
// message suppressed as a duplicate. Organisation hops (deliverOrg) and
// final delivery keep it. Two send-connector hops stay inside: an
// administrator's redirect (queue redirect to another server of the
// organisation), and, without a topology (nothing else then says where
// the organisation ends), a connector with send_xshadow — shadow
// redundancy is only spoken with servers of the organisation.
func leavesOrganisation(st *state, g *group) bool {
	switch {
	case strings.HasPrefix(g.key, "redirect:"):
		return false
	case st.cfg.Topology == nil && g.conn != nil && g.conn.cfg.SendXShadow:
		return false
	}
	return true
}

// relayLeavesOrganisation: a relay through g's send connector reaches
// no transport server of the organisation — it leaves it
// (leavesOrganisation) and, under a topology, no smart host of the
// connector is a server of it (ServerReached: routing.SmartHostServer,
// the rule config check warns of such a smart host by, a name only at
// the port of the server's address; by MX, with no smart host, none
// is). Its RelayedOK results say so (queue.Result.LeftOrg): a shadow
// server that took the copy over notes such a recipient for the
// returning primary (rt20f F3), which could not have merged it into its
// original (the copy a transport server takes may be the primary's own).
func relayLeavesOrganisation(st *state, g *group) bool {
	if g.conn == nil || !leavesOrganisation(st, g) {
		return false
	}
	if tp := st.cfg.Topology; tp != nil {
		for _, h := range g.conn.cfg.SmartHosts {
			if ServerReached(tp, config.SmartHostAddr(h, g.conn.cfg.Port), "") != "" {
				return false
			}
		}
	}
	return true
}

// relayServer names the transport server of the topology a relay through
// g's send connector (or the administrator's redirect, whose connector's
// smart host is the target) reaches without a shadow session, when it is
// one server: every smart host of the connector is that server's address
// or its name at that address's port (ServerReached). ""
// without a topology, by MX, or when the smart hosts are not all one
// server's — the relay may then have reached any of them, the primary a
// taken-over copy came from among them (queue.Result.RelayedTo).
func relayServer(st *state, g *group) string {
	tp := st.cfg.Topology
	if tp == nil || g.conn == nil || len(g.conn.cfg.SmartHosts) == 0 {
		return ""
	}
	server := ""
	for _, h := range g.conn.cfg.SmartHosts {
		s := ServerReached(tp, config.SmartHostAddr(h, g.conn.cfg.Port), "")
		if s == "" || server != "" && !strings.EqualFold(s, server) {
			return ""
		}
		server = s
	}
	return server
}

// shadowsTo: a relay through g's send connector opens a shadow session
// when the next hop offers XSHADOW (openShadow) — on a connector with
// send_xshadow, and on every relay that stays inside the organisation
// (relayLeavesOrganisation false): an administrator's redirect, and,
// under a topology, a connector with a smart host that is a server of
// it. Such a relay is one inside the organisation as a route of the
// topology is (org.go), so the sending server keeps its copy until the
// next hop's discard: without it a redirect to another hub, or a smart
// host that is one, left the message on that hub's disk alone, and this
// server told its own shadow server to discard at once (SR-10's
// deliver-and-forget, meant for a next hop outside). A next hop that
// offers no XSHADOW is relayed to as SR-10 says; one that is a hub or
// edge of the topology is asked anyway and its refusal shown
// (openShadow).
func shadowsTo(st *state, g *group) bool {
	return g.conn.cfg.SendXShadow || !relayLeavesOrganisation(st, g)
}

// shadowPrimary names next hop h of a relay through g as the primary of
// its shadow session: the server of the topology h is (its address, as
// dialled, or its name: routing.SmartHostServer), as a route of the
// topology names it — so its copies, heartbeats, takeover and give-back
// are the server's, whichever way the copy went to it (the rule by
// which openShadow asks a hub that does not offer XSHADOW). A
// send_xshadow connector's smart host keeps the name it is written
// with, as its copies always were (the primary applies their discards
// under either name). Else h's name. By its name, h is the server only
// at the port of the server's topology address: another port of its
// host is another service (config.SmartHostNames), whose copies,
// heartbeats and refusals are not the server's — such a host is named
// by its address's host instead, never by the server's name.
func shadowPrimary(st *state, g *group, h host) string {
	tp := st.cfg.Topology
	if tp == nil || g.conn.cfg.SendXShadow {
		return h.name
	}
	if s := tp.SmartHostServer(h.addr, ""); s != "" {
		return s
	}
	if s := ServerReached(tp, net.JoinHostPort(h.name, dialledPort(h.addr)), ""); s != "" {
		return s
	}
	if tp.SmartHostServer(h.name, "") == "" {
		return h.name
	}
	if ip, _, err := mailaddr.SplitHostPort(h.addr); err == nil && ip != "" {
		return ip
	}
	return h.addr
}

// ServerReached names the server of the topology a host dialled at
// hostport reaches (routing.SmartHostServer), "" when none and never
// except (this server, whose own address other checks look at): by its
// name only at the port of the server's topology address, since another
// port of its host is another service (config.SmartHostNames). The one
// rule for "a smart host that is a server of the organisation": a relay
// through any other leaves it, and config check warns of a send
// connector's smart host it names.
func ServerReached(tp *routing.Topology, hostport, except string) string {
	s := tp.SmartHostServer(hostport, except)
	if s == "" {
		return ""
	}
	if a, _ := tp.ServerAddress(s); a != "" && dialledPort(a) != dialledPort(hostport) {
		return ""
	}
	return s
}

// dialledPort is the port of hostport as dialled: its own, else SMTP's.
func dialledPort(hostport string) string {
	if _, p, err := mailaddr.SplitHostPort(hostport); err == nil && p != "" {
		return p
	}
	return strconv.Itoa(config.DefaultSMTPPort)
}

// shadowVia is the send connector the copies of a shadow session through
// g are noted as having gone by (queue Recipient.PrimaryVia), which the
// sessions to their primary then use (dialPrimary): g's own, or for an
// administrator's redirect the connector whose settings it borrows —
// only when it is one of this server's configured send connectors (st),
// "" otherwise (the organisation's own way, or loginVia's). Never the
// redirect's name, and never a connector of the topology alone
// (topoConnector: its route's, which this server does not configure —
// the normal case under a topology): a name the sessions to the primary
// cannot use made every one of them fail here (rt45 redirect; sessionVia
// reaches the primary all the same, for records made before).
func shadowVia(st *state, g *group) string {
	name := g.conn.cfg.Name
	if g.conn.redirect {
		name = g.conn.borrows
	}
	if st.conns[name] == nil {
		return ""
	}
	return name
}
