package routing

import (
	"net/netip"
	"strings"
	"testing"
)

// RT-8: "mailbox server in another site: relay towards a hub of that
// site" — of the mailbox server's version, as in its own site: a hub of
// another version does not deliver to it (once hubD1, version 1, was
// chosen for a version-2 mailbox).
func TestRuleOtherSiteMailboxHubOfItsVersion(t *testing.T) {
	in := reference(false)
	in.Servers = append(in.Servers, Server{Name: "hub2.dublin", Role: RoleHub, Site: "dublin", Version: 3, Address: "hub2.dublin:25"},
		Server{Name: "mbx3.dublin", Role: RoleMailbox, Site: "dublin", Version: 3, Address: "mbx3.dublin:24"})
	in.Databases = append(in.Databases, Database{Name: "db3", Server: "mbx3.dublin"})
	in.Recipients = append(in.Recipients, RecipientMap{Match: "new@dublin.example", Database: "db3"})
	tp := topo(t, in)
	r := tp.Route("hub1.london", "new@dublin.example", 1, Authoritative)
	if len(r.NextHops) != 1 || strings.Join(r.NextHops[0].Servers, ",") != "hub2.dublin" {
		t.Errorf("version-3 mailbox in another site: next hops %+v, want hub2.dublin only", r.NextHops)
	}
	if r := tp.Route("hub1.london", "x@dublin.example", 1, Authoritative); len(r.NextHops) != 1 || strings.Join(r.NextHops[0].Servers, ",") != "hub1.dublin" {
		t.Errorf("version-2 mailbox in another site: next hops %+v, want hub1.dublin only", r.NextHops)
	}
}

// RT-4: a site marked hub site is relayed through only when it has hubs.
// One without was shown with the hub-site mark and then explained as "no
// hub site on the path": the explanation now says why it is passed by.
func TestExplainHubSiteWithoutHubs(t *testing.T) {
	in := reference(true)
	var servers []Server
	for _, s := range in.Servers {
		if s.Name != "hub1.newyork" {
			servers = append(servers, s)
		}
	}
	in.Servers = servers
	tp := topo(t, in)
	r := tp.Explain("hub1.chicago", "x@london.example", 1, Authoritative)
	text := strings.Join(r.Reasons, "\n")
	if !strings.Contains(text, "site newyork on the path is marked a hub site but has no hub: not relayed through") ||
		strings.Contains(text, "no hub site on the path") {
		t.Errorf("explanation:\n%s", text)
	}
	if hopSites(r) != "relay:london" {
		t.Errorf("next hops %s, want relay:london", hopSites(r))
	}
}

// RT-6 wording: when the site where the paths part has no hub, the copy
// goes to the last site with hubs before it, and the explanation says so
// instead of calling that site the one where the paths part.
func TestExplainForkSiteWithoutHubs(t *testing.T) {
	site := func(name, subnet string) Site {
		return Site{Name: name, Subnets: []netip.Prefix{netip.MustParsePrefix(subnet)}}
	}
	in := TopologyInput{
		Sites: []Site{site("a", "10.1.0.0/16"), site("x", "10.2.0.0/16"), site("b", "10.3.0.0/16"), site("c", "10.4.0.0/16"), site("d", "10.5.0.0/16")},
		Links: []SiteLink{{Name: "ax", Sites: []string{"a", "x"}, Cost: 1}, {Name: "xb", Sites: []string{"x", "b"}, Cost: 1},
			{Name: "bc", Sites: []string{"b", "c"}, Cost: 1}, {Name: "bd", Sites: []string{"b", "d"}, Cost: 1}},
	}
	for _, s := range []string{"a", "x", "c", "d"} {
		in.Servers = append(in.Servers, Server{Name: "hub." + s, Role: RoleHub, Site: s, Version: 1, Address: "hub." + s + ":25"})
	}
	for _, s := range []string{"c", "d"} {
		in.Servers = append(in.Servers, Server{Name: "mbx." + s, Role: RoleMailbox, Site: s, Version: 1, Address: "mbx." + s + ":24"})
		in.Databases = append(in.Databases, Database{Name: "db-" + s, Server: "mbx." + s})
		in.Recipients = append(in.Recipients, RecipientMap{Match: s + ".example", Database: "db-" + s})
	}
	tp := topo(t, in)
	routes := []Route{tp.Explain("hub.a", "u@c.example", 1, Authoritative), tp.Explain("hub.a", "v@d.example", 1, Authoritative)}
	copies := tp.FanOut("hub.a", routes)
	if len(copies) != 1 || copies[0].NextHops[0].Site != "x" {
		t.Fatalf("copies %+v, want one to site x", copies)
	}
	text := strings.Join(routes[0].Reasons, "\n")
	if !strings.Contains(text, "where their paths part; b has no hub, so one copy goes to a hub of x, the last site with hubs before it") {
		t.Errorf("explanation:\n%s", text)
	}
}

// RT-11: explain gives the reason for every alternative that lost,
// including connectors whose address space matches but that are out of
// the running (scoped to another site, disabled), which it once left out.
func TestExplainConnectorsOutOfTheRunning(t *testing.T) {
	in := reference(false)
	in.Connectors = []SendConnector{
		{Name: "all", AddressSpaces: []AddressSpace{{Domain: "*", Cost: 1}}, SourceServers: []string{"hub1.dublin"}, Enabled: true},
		{Name: "london-only", AddressSpaces: []AddressSpace{{Domain: "*", Cost: 1}}, SourceServers: []string{"hub1.london"}, SiteScoped: true, Enabled: true},
		{Name: "off", AddressSpaces: []AddressSpace{{Domain: "*", Cost: 1}}, SourceServers: []string{"hub1.chicago"}},
	}
	tp := topo(t, in)
	r := tp.Explain("hub1.chicago", "x@ext.example", 1, NotAccepted)
	text := strings.Join(r.Reasons, "\n")
	for _, want := range []string{"london-only is not in the running: scope site", "off is not in the running: disabled"} {
		if !strings.Contains(text, want) {
			t.Errorf("no %q in:\n%s", want, text)
		}
	}
	if r.Destination != "send connector all" {
		t.Errorf("destination %s", r.Destination)
	}
}

// RT-11 for legacy routing groups: the chain of routing-group connectors
// that lost is listed with its reason (summed cost, then the site cost
// to its first bridgehead).
func TestExplainRGCChainsThatLost(t *testing.T) {
	in := coexistence()
	in.RGConnectors = []RoutingGroupConnector{
		{Name: "a-far", Groups: [2]string{ModernGroup, "rg-a"}, Cost: 1, SourceServers: []string{"hub1.dublin"}},
		{Name: "a-c", Groups: [2]string{"rg-a", "rg-c"}, Cost: 1},
		{Name: "z-near", Groups: [2]string{ModernGroup, "rg-b"}, Cost: 1, SourceServers: []string{"hub1.atlanta"}},
		{Name: "b-c", Groups: [2]string{"rg-b", "rg-c"}, Cost: 1}}
	r := legacyRoute(t, in, "hub1.chicago", "x@x400.example", 1)
	why := strings.Join(r.Reasons, "\n")
	if !strings.Contains(why, "chain a-far, a-c lost: equal summed cost; its first bridgehead is farther") {
		t.Errorf("explanation:\n%s", why)
	}
}

// RT-5 wording (rr-opsrt38): the explanation counts the path's hops in
// words that agree with the count — "1 hop", "2 hops" —, never "1 hops".
func TestExplainCountsHopsInWords(t *testing.T) {
	tp := topo(t, reference(true))
	for _, tc := range []struct{ rcpt, want string }{
		{"a@dublin.example", ", 1 hop"}, // london>dublin
	} {
		r := tp.Explain("hub1.london", tc.rcpt, 1, Authoritative)
		text := strings.Join(r.Reasons, "\n")
		if !strings.Contains(text, tc.want) || strings.Contains(text, "1 hops") {
			t.Errorf("%s from hub1.london: explanation\n%s\nwant %q, no \"1 hops\"", tc.rcpt, text, tc.want)
		}
	}
	r := tp.Explain("hub1.newyork", "a@dublin.example", 1, Authoritative)
	if text := strings.Join(r.Reasons, "\n"); !strings.Contains(text, ", 2 hops") {
		t.Errorf("a@dublin.example from hub1.newyork: explanation\n%s\nwant \", 2 hops\"", text)
	}
}
