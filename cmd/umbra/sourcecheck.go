package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"umbra/internal/config"
	"umbra/internal/delivery"
	"umbra/internal/mailaddr"
	"umbra/internal/routing"
)

// outgoingSourcesOutsideTopology warns of an address this server's
// relays to another hub or edge of the topology leave from that the
// topology does not give this server (neither the host of its address
// nor one of its source_addresses): the next hop does not take such a
// connection for this server's, offers it no XSHADOW and removes the
// umbra headers of its mail, so every relay to it goes without a shadow
// copy and loses the organisation id (rt32 F13). The address is the one
// delivery binds (the source_address of the send connector that logs in
// to that server, else server.source_address), or else the one the
// system would choose for that destination (a route lookup, nothing is
// sent). At the line of the setting that chose it, or of server.name.
// Nothing is said behind address translation, where the peer sees
// another address anyway, nor with shadow redundancy off.
//
// A server listed by host name is looked up with r, bounded by ctx, and
// never by the system resolver: the daemon builds this warning with
// noDNS at its start and at each reload (configwarnings.go), which no
// lookup may delay, and says nothing of such a server.
func outgoingSourcesOutsideTopology(ctx context.Context, cfg *config.Config, topo *routing.Topology, r delivery.Resolver) []string {
	if topo == nil || cfg.Server.AddressTranslated || !cfg.Transport.ShadowRedundancyEnabled {
		return nil
	}
	ct, err := config.LoadTopology(cfg.Topology)
	if err != nil {
		return nil // reported by the checks before
	}
	if me, ok := topo.Server(cfg.Server.Name); !ok || (me.Role != routing.RoleHub && me.Role != routing.RoleEdge) {
		return nil
	}
	var out []string
	said := map[string]bool{}
	for _, s := range ct.Servers {
		if mailaddr.NameKey(s.Name) == mailaddr.NameKey(cfg.Server.Name) || (s.Role != routing.RoleHub && s.Role != routing.RoleEdge) {
			continue
		}
		src, path := cfg.Server.SourceAddress, []any{"server", "source_address"}
		if via, i := loginConnector(cfg, s.Name, s.Address); via != nil && via.SourceAddress != "" {
			src, path = via.SourceAddress, []any{"send_connectors", i, "source_address"}
		}
		how := "is set to"
		if src == "" {
			path, how = []any{"server", "name"}, "is chosen by the system for it (no source_address is set):"
			host, port, err := net.SplitHostPort(s.Address)
			if err != nil {
				continue
			}
			if _, err := netip.ParseAddr(host); err != nil {
				as, err := r.LookupHost(ctx, host)
				if err != nil || len(as) == 0 {
					continue // not resolved: nothing to say
				}
				host = as[0]
			}
			c, err := net.Dial("udp", net.JoinHostPort(host, port)) // a route lookup: UDP sends nothing until written to
			if err != nil {
				continue // no route from here: nothing to say
			}
			src = c.LocalAddr().(*net.UDPAddr).IP.String()
			c.Close()
		}
		ip, err := netip.ParseAddr(src)
		if err != nil {
			continue // reported at its line by Load
		}
		if _, ok := topo.ServerAt(cfg.Server.Name, ip); ok || said[src] {
			continue
		}
		said[src] = true
		out = append(out, cfg.ErrorAt(fmt.Sprintf("warning: the source address of this server's connections to %s (%s) %s %s, "+
			"which the topology %s does not give server %q (neither the host of its address nor one of its source_addresses): "+
			"the next hop offers such a connection no XSHADOW and removes its umbra headers, so relays go without a shadow copy "+
			"(each refusal is logged at WARN and counted in umbra_shadow_refused_sessions_total{session=\"relay\"}) and lose the "+
			"organisation id; set a source_address the topology gives this server, or list %s in its source_addresses",
			s.Name, s.Address, how, src, config.ShownPath(cfg.Topology), cfg.Server.Name, src), path...).Error())
	}
	return out
}

// loginConnector is the send connector that logs in to the server name
// at addr (delivery's loginVia: the best-ranked smart host among the
// connectors with a login), and its index; nil when none does.
func loginConnector(cfg *config.Config, name, addr string) (*config.SendConnector, int) {
	var best *config.SendConnector
	at, rank := -1, 0
	for i := range cfg.SendConnectors {
		sc := &cfg.SendConnectors[i]
		if sc.Auth.Username == "" {
			continue
		}
		for _, sh := range sc.SmartHosts {
			if r := config.SmartHostNames(sh, sc.Port, name, addr); r > rank {
				best, at, rank = sc, i, r
			}
		}
	}
	return best, at
}

// translatedWithoutSourceAddresses warns (shadowout48 F5) of a server
// behind address translation (server.address_translated) that the
// topology lists without source_addresses: its connections reach its
// peers from another address than the host of its topology address, and
// a peer knows a transport server that does not log in (an externally
// secured connector) by those two alone — it offers such a connection no
// XSHADOW, so every relay to it goes without a shadow copy, and this
// server's shadow sessions there are refused. Nothing is said when every
// other hub and edge is reached through a send connector that logs in
// (the login names the server), nor with shadow redundancy off. At the
// line of server.address_translated.
func translatedWithoutSourceAddresses(cfg *config.Config, ct *config.Topology) []string {
	if ct == nil || !cfg.Server.AddressTranslated || !cfg.Transport.ShadowRedundancyEnabled {
		return nil
	}
	var me *config.TopoServer
	for i := range ct.Servers {
		if mailaddr.NameKey(ct.Servers[i].Name) == mailaddr.NameKey(cfg.Server.Name) {
			me = &ct.Servers[i]
		}
	}
	if me == nil || (me.Role != routing.RoleHub && me.Role != routing.RoleEdge) || len(me.SourceAddresses) > 0 {
		return nil
	}
	var byAddress []string // the peers reached without a login
	for _, s := range ct.Servers {
		if mailaddr.NameKey(s.Name) == mailaddr.NameKey(cfg.Server.Name) || (s.Role != routing.RoleHub && s.Role != routing.RoleEdge) {
			continue
		}
		if via, _ := loginConnector(cfg, s.Name, s.Address); via == nil {
			byAddress = append(byAddress, s.Name)
		}
	}
	if len(byAddress) == 0 {
		return nil
	}
	src := "the addresses its connections leave from"
	if cfg.Server.SourceAddress != "" {
		src = cfg.Server.SourceAddress + " (server.source_address)"
	}
	return []string{cfg.ErrorAt(fmt.Sprintf("warning: server %s is behind address translation (server.address_translated) and the topology %s lists no source_addresses for it: "+
		"its connections reach %s from another address than the host of its topology address %s, so a peer that knows transport servers by address "+
		"(an externally secured receive connector) offers them no XSHADOW — every message relayed there goes without a shadow copy (\"no shadow copy\") "+
		"and this server's shadow sessions there are refused; list %s in its source_addresses in the topology",
		cfg.Server.Name, config.ShownPath(cfg.Topology), strings.Join(byAddress, ", "), me.Address, src), "server", "address_translated").Error()}
}
