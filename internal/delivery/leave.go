package delivery

import (
	"strings"

	"umbra/internal/config"
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
// connector is a server of it (routing.SmartHostServer, the rule config
// check warns of such a smart host by; by MX, with no smart host, none
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
			if tp.SmartHostServer(config.SmartHostAddr(h, g.conn.cfg.Port), "") != "" {
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
// or name (routing.SmartHostServer, the rule config check warns by). ""
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
		s := tp.SmartHostServer(config.SmartHostAddr(h, g.conn.cfg.Port), "")
		if s == "" || server != "" && !strings.EqualFold(s, server) {
			return ""
		}
		server = s
	}
	return server
}
