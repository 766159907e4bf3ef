package routing

import "strings"

// SiteHopNamed reports whether a next hop into site naming servers (in
// the route's order) is one this topology can produce (routeSite): the
// site's hubs, those of one version (a mailbox's), or the servers there
// of a send connector's or a routing-group connector's source servers.
// A hop whose server set changed since — a server moved to another site,
// a hub added beside them — is not: a destination that names it lingers
// idle otherwise (delivery DestinationNamed). None named: the site
// exists.
func (t *Topology) SiteHopNamed(site string, servers []string) bool {
	if _, ok := t.siteIdx[site]; !ok {
		return false
	}
	if len(servers) == 0 {
		return true
	}
	want := strings.Join(servers, ",")
	same := func(ss []*Server) bool { return len(ss) > 0 && strings.Join(names(ss), ",") == want }
	hubs := t.bySite[site]
	if same(hubs) {
		return true
	}
	byVersion := map[int][]*Server{}
	for _, h := range hubs {
		byVersion[h.Version] = append(byVersion[h.Version], h)
	}
	for _, ss := range byVersion {
		if same(ss) {
			return true
		}
	}
	inSite := func(sources []string) []*Server {
		var out []*Server
		for _, n := range sources {
			if s := t.servers[n]; s != nil && s.Site == site {
				out = append(out, s)
			}
		}
		return out
	}
	for _, c := range t.in.Connectors {
		if same(inSite(c.SourceServers)) {
			return true
		}
	}
	for _, rgc := range t.rgcs {
		if same(inSite(rgc.SourceServers)) {
			return true
		}
	}
	return false
}

// HasServerAddress reports whether a server of the topology has address
// (as written in its entry: a next hop's Addresses): a per-address
// destination ("org:HOST:PORT") of a server removed or given another
// address names none.
func (t *Topology) HasServerAddress(address string) bool {
	for _, s := range t.servers {
		if s.Address == address {
			return true
		}
	}
	return false
}
