package config

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"umbra/internal/mailaddr"
)

// topologyRules reports what makes a syntactically valid topology unsafe
// or unroutable, each at the line of the element concerned:
//
//   - two servers with one address (a copy-paste: relaying to the other
//     would relay to this server itself), and an unspecified address
//     (0.0.0.0, ::) no server can be reached at;
//   - names that differ only in letter case (databases, site links,
//     connectors; sites, and servers by final dot too, are
//     canonicalTopologyNames'): routing and operators would mix them up.
//     Names must be ASCII: two Unicode spellings that normalise to one
//     name (NFC) cannot be told apart without a normalisation library,
//     so they are refused rather than compared;
//   - one subnet in two sites, and a site link that names a site twice
//     (a link from a site to itself);
//   - a mailbox server whose site has no hub of its version (RT-8: mail
//     for its databases goes through such a hub, from every other site
//     and from servers of another version), and an edge server whose site
//     has no hub to relay to;
//   - a legacy send connector (source servers all legacy) with scope
//     site: a legacy server is in no site, so no site could use it;
//   - a send connector whose source server is a mailbox server (source
//     servers are hubs, edges, or legacy servers for legacy connectors).
//
// relational is what the checks that relate entries to one another (a
// hub of a site, a connector's source servers' roles) read: the values
// left out among them make those checks about entries that are not
// there. The checks of one entry alone (its name, its address, its
// subnets, a link's sites) read only that entry's values, by their path:
// a value left out elsewhere — a site link's cost — hides none of them
// (rr35 opsshadow).
func topologyRules(t *Topology, relational [][]any) []violation {
	v := &validator{}
	ascii := func(kind, name string, path ...any) {
		for i := 0; i < len(name); i++ {
			if name[i] >= 0x80 {
				v.add(fmt.Sprintf("%s name %q: names must be ASCII (letters, digits, ._-)", kind, name), append(path, "name")...)
				return
			}
		}
	}
	foldDup := func(kind string, names []string, path func(i int) []any) {
		seen := map[string]string{}
		for i, n := range names {
			k := strings.ToLower(n)
			if prev, ok := seen[k]; ok && prev != n {
				v.add(fmt.Sprintf("%s %q differs from %s %q only in letter case", kind, n, kind, prev), append(path(i), "name")...)
			}
			if _, ok := seen[k]; !ok {
				seen[k] = n
			}
		}
	}
	// Sites and servers in two spellings: canonicalTopologyNames.
	var dbNames, linkNames, connNames []string
	for i, s := range t.Sites {
		ascii("site", s.Name, "sites", i)
	}
	for i, s := range t.Servers {
		ascii("server", s.Name, "servers", i)
	}
	for i, d := range t.MailboxDatabases {
		dbNames = append(dbNames, d.Name)
		ascii("mailbox database", d.Name, "mailbox_databases", i)
	}
	for i, l := range t.SiteLinks {
		linkNames = append(linkNames, l.Name)
		ascii("site link", l.Name, "site_links", i)
	}
	for i, c := range t.SendConnectors {
		connNames = append(connNames, c.Name)
		ascii("send connector", c.Name, "send_connectors", i)
	}
	foldDup("mailbox database", dbNames, func(i int) []any { return []any{"mailbox_databases", i} })
	foldDup("site link", linkNames, func(i int) []any { return []any{"site_links", i} })
	foldDup("send connector", connNames, func(i int) []any { return []any{"send_connectors", i} })

	subnets := map[netip.Prefix]string{}
	for i, s := range t.Sites {
		for j, p := range s.Subnets {
			pr, err := ParseRange(p)
			if err != nil {
				continue // reported by validateTopology
			}
			pr = pr.Masked()
			if prev, ok := subnets[pr]; ok && prev != s.Name {
				v.add(fmt.Sprintf("subnet %s of site %q is already a subnet of site %q", pr, s.Name, prev), "sites", i, "subnets", j)
				continue
			}
			subnets[pr] = s.Name
		}
	}
	for i, l := range t.SiteLinks {
		seen := map[string]bool{}
		for j, s := range l.Sites {
			if seen[strings.ToLower(s)] {
				v.add(fmt.Sprintf("site link %q names site %q twice (a link from a site to itself)", l.Name, s), "site_links", i, "sites", j)
			}
			seen[strings.ToLower(s)] = true
		}
	}

	addrs := map[string]string{}
	for i, s := range t.Servers {
		if s.Role == "legacy" || s.Address == "" {
			continue
		}
		host, port, err := net.SplitHostPort(s.Address)
		if err != nil {
			continue // reported by validateTopology
		}
		key := mailaddr.NameKey(host)
		if ip, err := netip.ParseAddr(host); err == nil {
			if UnspecifiedHost(host) { // ::ffff:0.0.0.0 too: one rule with CheckHostPort
				v.add(fmt.Sprintf("server %q: address %q %s", s.Name, s.Address, UnspecifiedWords), "servers", i, "address")
				continue
			}
			key = ip.Unmap().String()
		}
		key = net.JoinHostPort(key, port)
		if prev, ok := addrs[key]; ok {
			v.add(fmt.Sprintf("server %q has the address %s of server %q: relaying to one would reach the other", s.Name, s.Address, prev), "servers", i, "address")
			continue
		}
		addrs[key] = s.Name
	}

	roles := map[string]string{}
	for _, s := range t.Servers {
		roles[s.Name] = s.Role
	}
	hubOf := func(site string, version int) bool {
		for j, h := range t.Servers {
			// A hub whose version is refused at its line is of no known
			// version: the mailbox server is not blamed for it.
			if h.Role == "hub" && topoServerSite(t, h) == site && (version == 0 || t.refusedVersion[j] || topoVersion(h.Version) == version) {
				return true
			}
		}
		return false
	}
	for i, s := range t.Servers {
		site := topoServerSite(t, s)
		if site == "" {
			continue // no site: reported by topologyGraph or validateTopology
		}
		switch s.Role {
		case "edge":
			if !hubOf(site, 0) {
				v.compare(fmt.Sprintf("edge server %q is in site %q, which has no hub to relay to", s.Name, site), relational, "servers", i, "role")
			}
		case "mailbox":
			hasDB := false
			for _, d := range t.MailboxDatabases {
				hasDB = hasDB || d.Server == s.Name
			}
			if hasDB && !hubOf(site, topoVersion(s.Version)) {
				v.compare(fmt.Sprintf("mailbox server %q (version %d) is in site %q, which has no hub of version %d: mail for its databases cannot be routed (RT-8)", s.Name, topoVersion(s.Version), site, topoVersion(s.Version)), relational, "servers", i, "site")
			}
		}
	}
	for i, c := range t.SendConnectors {
		legacy := len(c.SourceServers) > 0
		for _, s := range c.SourceServers {
			legacy = legacy && roles[s] == "legacy"
		}
		if legacy && c.Scope == "site" {
			v.compare(fmt.Sprintf("send connector %q: scope site on a legacy connector (its source servers are in no site) makes it unusable from every site", c.Name), relational, "send_connectors", i, "scope")
		}
		for j, s := range c.SourceServers {
			if r, ok := roles[s]; ok && r == "mailbox" {
				v.compare(fmt.Sprintf("send connector %q: source server %q is a %s server; source servers are hubs, edges or (for a legacy connector) legacy servers", c.Name, s, r), relational, "send_connectors", i, "source_servers", j)
			}
		}
	}
	return v.out
}

// topoServerSite is the site of s: its own, or by the longest subnet
// match of its address (RT-1).
func topoServerSite(t *Topology, s TopoServer) string {
	if s.Site != "" {
		return s.Site
	}
	return siteByAddress(t, s.Address)
}

// topoVersion is a server's version: 0 (or absent) means 1, as routing
// reads it.
func topoVersion(v int) int {
	if v == 0 {
		return 1
	}
	return v
}

// CheckTopologyServer reports, at the line of the server in the topology
// file at path, what ties the topology wrongly to this server (server.name
// name, server.role role, receive connector bindings bindings):
//
//   - another role than role: routing would treat it as what it is not (a
//     hub taken for an edge relays nowhere, an edge taken for a hub
//     receives the site's mail);
//
//   - an address no binding listens on, on this machine (listensOn: the
//     same port, and the same IP; for a wildcard binding an address of
//     this machine; for a host name what it resolves to here): a
//     copy-pasted server.name or a typo in the address. Every other server sends this server's shadow sessions,
//     heartbeats and relayed mail to that address, so its peers would find
//     it dead while it runs and take its shadow copies over (a live
//     server's mail delivered twice). A topology address given by host
//     name is not compared, nor anything when bindings is nil (this
//     server is reached through address translation: server.
//     address_translated).
//
//   - another spelling of server.name (letter case, a final dot): the
//     same server to every comparison, but written into its peers'
//     queues and shadow records as its shadow sessions give it (rt51 F9).
//
// serve, SIGHUP and config check all refuse each. A name the topology
// lacks is not reported here.
func CheckTopologyServer(path, name, role string, bindings []string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	t := &Topology{}
	doc, err := decodeStrict(data, path, t)
	if err != nil {
		return err
	}
	v := &validator{}
	canonicalTopologyNames(t) // its errors are LoadTopology's
	for i, s := range t.Servers {
		if mailaddr.NameKey(s.Name) != mailaddr.NameKey(name) {
			continue
		}
		if s.Name != name {
			// rt51 F9: the same server, but this server names itself
			// in its shadow sessions, and its peers name their queues
			// and shadow records for it, by server.name: one spelling.
			v.add(fmt.Sprintf("the topology names this server %q, its server.name is %q: server names are compared without letter case and final dot, "+
				"but a server's peers keep its name as written (queues shadow:NAME, shadow records); write one spelling in both", s.Name, name), "servers", i, "name")
		}
		if s.Role != role {
			v.add(fmt.Sprintf("the topology gives server %q the role %s, but its server.role is %s", name, s.Role, role), "servers", i, "role")
		}
		if bindings != nil && !listensOn(s.Address, bindings) {
			v.add(fmt.Sprintf("the topology puts server %q at %s, but no receive connector of this server listens there (bindings %s): "+
				"its peers would send its shadow sessions, heartbeats and mail elsewhere and take its copies over while it runs; "+
				"check server.name and the address (behind address translation or a proxy: server.address_translated)", name, s.Address, strings.Join(bindings, ", ")), "servers", i, "address")
		}
	}
	return violations(path, doc, v.out)
}

// listensOn reports whether one of bindings, on this machine, accepts
// connections to address: the same port, and the same IP; for a wildcard
// binding (0.0.0.0, ::, no host) an address of this machine (an
// interface's, or loopback); for a binding by host name, an address the
// name resolves to here. A topology address given by host name is taken
// as listening: it is not resolved.
func listensOn(address string, bindings []string) bool {
	want, err := netip.ParseAddrPort(address)
	if err != nil {
		return true
	}
	wantIP, wantPort := want.Addr().Unmap(), strconv.Itoa(int(want.Port()))
	for _, b := range bindings {
		host, port, err := net.SplitHostPort(b)
		if err != nil || port != wantPort {
			continue
		}
		ip, err := netip.ParseAddr(host)
		switch {
		case host == "" || err == nil && ip.Unmap().IsUnspecified(): // ::ffff:0.0.0.0 too: one rule for every spelling (rt28e F5)
			if wantIP.IsLoopback() || isLocalAddr(wantIP) {
				return true
			}
		case err == nil:
			if ip.Unmap() == wantIP {
				return true
			}
		default: // a host name: what it resolves to on this machine
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			addrs, _ := net.DefaultResolver.LookupHost(ctx, host)
			cancel()
			for _, a := range addrs {
				if ip, err := netip.ParseAddr(a); err == nil && ip.Unmap() == wantIP {
					return true
				}
			}
		}
	}
	return false
}

// isLocalAddr: ip is an address of this machine (LocalAddr, without
// netlink: localaddr.go). A kernel that cannot be asked answers false:
// its callers warn (a smart host that is this server), and a warning
// not given is no refusal.
func isLocalAddr(ip netip.Addr) bool {
	ok, _ := LocalAddr(ip)
	return ok
}

// ShadowListenerWarnings warns (rt27a F4) when shadow redundancy is on
// and this server's own topology address names receive connectors of
// this server none of which offers the shadow verbs to transport servers,
// while another connector of it does (the topology names the wrong one)
// (accept-xshadow in permissions.servers, or for an externally secured
// connector in permissions.anonymous): every peer sends its shadow
// sessions and heartbeats to that address, where they fail with "peer
// does not offer XSHADOW" — its peers count failed heartbeats and take
// its copies over while it runs, and its relays' copies are never
// confirmed. A warning, at the connector's bindings, naming the
// connectors that do offer them; a server none of whose connectors
// offers them is warned of too, at the connector at its topology
// address (mail relayed to it keeps no copy): an address behind translation
// (server.address_translated) or given by host name is not compared.
// Warnings are formatted "file:line: warning: …".
func ShadowListenerWarnings(c *Config, t *Topology) []string {
	if t == nil || !c.Transport.ShadowRedundancyEnabled || c.Server.AddressTranslated {
		return nil
	}
	var doc *yaml.Node
	if c.File != "" {
		if data, err := os.ReadFile(c.File); err == nil {
			var root yaml.Node
			if yaml.Unmarshal(data, &root) == nil && len(root.Content) == 1 {
				doc = root.Content[0]
			}
		}
	}
	warns := &validator{}
	for _, s := range t.Servers {
		if mailaddr.NameKey(s.Name) != mailaddr.NameKey(c.Server.Name) {
			continue
		}
		if _, err := netip.ParseAddrPort(s.Address); err != nil {
			continue // a host name: not resolved here
		}
		var there []int
		var offering []string
		for i, rc := range c.ReceiveConnectors {
			offers := offersShadowToServers(rc)
			if offers {
				offering = append(offering, fmt.Sprintf("%q (%s)", rc.Name, strings.Join(rc.Bindings, ", ")))
			}
			if !listensOn(s.Address, rc.Bindings) {
				continue
			}
			if offers {
				return nil
			}
			there = append(there, i)
		}
		if len(offering) == 0 {
			// No connector offers them at all (shadow28 item 3: left
			// unsaid before): the same failures, and nothing relayed
			// here keeps a copy.
			for _, i := range there {
				warns.add(fmt.Sprintf("the topology lists %q as a transport server at %s, where receive connector %q listens, and no receive connector of it offers XSHADOW to transport servers "+
					"(no accept-xshadow in permissions.servers) while shadow redundancy is on: its peers' shadow sessions and heartbeats fail with \"peer does not offer XSHADOW\", "+
					"so mail relayed to it keeps no shadow copy and a peer that kept copies for it takes them over while it runs (its mail delivered twice); grant the shadow verbs to transport servers on that connector",
					c.Server.Name, s.Address, c.ReceiveConnectors[i].Name), "receive_connectors", i, "bindings")
			}
			continue
		}
		other := "receive connector " + strings.Join(offering, ", ") + " offers them"
		for _, i := range there {
			warns.add(fmt.Sprintf("the topology puts server %q at %s, where receive connector %q listens, which does not offer XSHADOW to transport servers "+
				"(no accept-xshadow in permissions.servers): its peers' shadow sessions and heartbeats there fail with \"peer does not offer XSHADOW\", "+
				"so they take its shadow copies over while it runs (its mail delivered twice); %s: give the topology that address, or grant the shadow verbs here",
				c.Server.Name, s.Address, c.ReceiveConnectors[i].Name, other), "receive_connectors", i, "bindings")
		}
	}
	return warningLines(c.File, doc, warns.out)
}

// offersShadowToServers reports whether rc offers XSHADOW to a session
// of a transport server (SR-1): the servers' class holds accept-xshadow,
// or, on an externally secured connector, where every session is a
// transport server, the anonymous class does.
func offersShadowToServers(rc ReceiveConnector) bool {
	if slices.Contains(rc.Permissions.Servers, RightAcceptXShadow) {
		return true
	}
	return rc.ExternallySecured && slices.Contains(rc.Permissions.Anonymous, RightAcceptXShadow)
}
