package routing

import (
	"net/netip"
	"strings"
	"testing"
)

// copiesOf renders FanOut's copies as "rcpt+rcpt>site[fork]" lines.
func copiesOf(cs []Copy) string {
	var out []string
	for _, c := range cs {
		s := strings.Join(c.Recipients, "+") + ">" + c.NextHops[0].Kind + ":" + c.NextHops[0].Site
		if c.ForkSite != "" {
			s += "[fork " + c.ForkSite + "]"
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}

// RT-6 / RT-12: "Delayed fan-out forks at the fork site." Issue 11
// defect 1: "a hub delays bifurcating a message until it reaches a fork
// in the routing paths; the copy for each branch leaves from a hub in
// the site where the paths fork."
func TestRuleDelayedFanOutAtForkSite(t *testing.T) {
	noHubs := reference(false)
	for _, tc := range []struct {
		name  string
		in    TopologyInput
		from  string
		rcpts []string
		want  string
	}{
		{"paths chicago>newyork>london>{london,dublin} fork at london, not at the source",
			noHubs, "hub1.chicago", []string{"a@london.example", "b@dublin.example"},
			"a@london.example+b@dublin.example>relay:london[fork london]"},
		{"a third recipient whose path leaves by another first link is its own copy",
			noHubs, "hub1.chicago", []string{"a@london.example", "c@atlanta.example", "b@dublin.example"},
			"a@london.example+b@dublin.example>relay:london[fork london] c@atlanta.example>relay:atlanta"},
		{"fork at newyork: newyork and dublin part there",
			noHubs, "hub1.chicago", []string{"a@newyork.example", "b@dublin.example"},
			"a@newyork.example+b@dublin.example>relay:newyork[fork newyork]"},
		{"at the fork site the copy splits",
			noHubs, "hub1.london", []string{"a@london.example", "b@dublin.example"},
			"a@london.example>mailbox:london b@dublin.example>relay:dublin"},
		{"one destination: no delay, straight there",
			noHubs, "hub1.chicago", []string{"a@dublin.example", "b@dublin.example"},
			"a@dublin.example+b@dublin.example>relay:dublin"},
		{"a hub site before the fork already carries them together (RT-4)",
			reference(true), "hub1.chicago", []string{"a@london.example", "b@dublin.example"},
			"a@london.example+b@dublin.example>relay:newyork[fork london]"},
		{"a fork site without hubs: the copy goes to the last site with hubs before it",
			func() TopologyInput {
				in := reference(false)
				var keep []Server
				for _, s := range in.Servers {
					if s.Name != "hub1.london" {
						keep = append(keep, s)
					}
				}
				in.Servers = keep
				return in
			}(), "hub1.chicago", []string{"a@london.example", "b@dublin.example"},
			"a@london.example+b@dublin.example>relay:newyork[fork london]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tp := topo(t, tc.in)
			var routes []Route
			for _, rc := range tc.rcpts {
				routes = append(routes, tp.Explain(tc.from, rc, 1, Authoritative))
			}
			if got := copiesOf(tp.FanOut(tc.from, routes)); got != tc.want {
				t.Errorf("copies %s\nwant   %s", got, tc.want)
			}
			// The fork site's hub routing the same recipients makes the
			// copies that go on from there (no loop back).
			for _, r := range routes {
				if len(r.NextHops) > 0 && r.NextHops[0].Kind == HopRelay && len(r.NextHops[0].Servers) > 0 {
					next := tp.Route(r.NextHops[0].Servers[0], r.Recipient, 1, Authoritative)
					for _, p := range next.Path {
						if p.Site == r.Path[0].Site {
							t.Errorf("%s: from %s the path goes back through %s", r.Recipient, r.NextHops[0].Site, p.Site)
						}
					}
				}
			}
		})
	}
}

// coexistence builds the modern reference organisation with legacy
// routing groups rg-a, rg-b and rg-c.
func coexistence() TopologyInput {
	in := reference(false)
	in.Servers = append(in.Servers,
		Server{Name: "ex-a", Role: RoleLegacy, RoutingGroup: "rg-a", Address: "ex-a:25"},
		Server{Name: "ex-b", Role: RoleLegacy, RoutingGroup: "rg-b", Address: "ex-b:25"},
		Server{Name: "ex-c", Role: RoleLegacy, RoutingGroup: "rg-c", Address: "ex-c:25"})
	in.Connectors = []SendConnector{{Name: "x400", AddressSpaces: []AddressSpace{{Domain: "x400.example", Cost: 1}},
		SourceServers: []string{"ex-c"}, Enabled: true}}
	return in
}

func legacyRoute(t *testing.T, in TopologyInput, from, rcpt string, size int64) Route {
	t.Helper()
	return topo(t, in).Explain(from, rcpt, size, NotAccepted)
}

// RT-9 / RT-12: "Connectors scoped to a site are invisible outside it"
// — issue 11 defect 2: "for legacy (2003) connectors exactly as for
// modern ones".
func TestRuleLegacyConnectorScope(t *testing.T) {
	for _, tc := range []struct {
		name   string
		scoped bool
		want   string
	}{
		{"organisation scope: the legacy connector is used", false, "send connector x400"},
		{"site scope: out of scope from every modern site", true, "no send connector"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := coexistence()
			in.Connectors[0].SiteScoped = tc.scoped
			in.RGConnectors = []RoutingGroupConnector{
				{Name: "m-c", Groups: [2]string{ModernGroup, "rg-c"}, Cost: 1, SourceServers: []string{"hub1.chicago"}},
				{Name: "m-a", Groups: [2]string{ModernGroup, "rg-a"}, SourceServers: []string{"hub1.chicago"}},
				{Name: "m-b", Groups: [2]string{ModernGroup, "rg-b"}, SourceServers: []string{"hub1.chicago"}}}
			if r := legacyRoute(t, in, "hub1.atlanta", "x@x400.example", 1); r.Destination != tc.want {
				t.Errorf("got %q\n%s", r.Destination, strings.Join(r.Reasons, "\n"))
			}
		})
	}
}

// RT-10: "the least summed routing-group-connector cost wins; site-link
// cost to the first connector breaks ties only" — issue 11 defect 3:
// "When two paths across routing-group connectors have the same cost,
// the site cost to reach the first connector's bridgehead decides".
func TestRuleRGCTieBreakBySiteCost(t *testing.T) {
	for _, tc := range []struct {
		name       string
		costZ      int
		want, hops string
	}{
		// a-far (bridgehead in Dublin) sorts first by name but is farther
		// from Chicago than z-near (bridgehead in Atlanta): z-near wins.
		{"equal summed cost: the nearer bridgehead", 1, "z-near", "relay:atlanta"},
		{"lower summed cost wins however far the bridgehead", 2, "a-far", "relay:dublin,relay:london,relay:newyork"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := coexistence()
			in.RGConnectors = []RoutingGroupConnector{
				{Name: "a-far", Groups: [2]string{ModernGroup, "rg-a"}, Cost: 1, SourceServers: []string{"hub1.dublin"}},
				{Name: "a-c", Groups: [2]string{"rg-a", "rg-c"}, Cost: 1},
				{Name: "z-near", Groups: [2]string{ModernGroup, "rg-b"}, Cost: tc.costZ, SourceServers: []string{"hub1.atlanta"}},
				{Name: "b-c", Groups: [2]string{"rg-b", "rg-c"}, Cost: 1}}
			r := legacyRoute(t, in, "hub1.chicago", "x@x400.example", 1)
			why := strings.Join(r.Reasons, "\n")
			if !strings.Contains(why, "connectors "+tc.want) || hopSites(r) != tc.hops {
				t.Errorf("hops %s\n%s", hopSites(r), why)
			}
		})
	}
}

// RT-7 / RT-12: "A site link or routing-group connector with a max
// message size on the least-cost path makes routing produce an NDR" —
// issue 11 defect 4: "bigger than the limit of *any* routing-group
// connector on the least-cost path".
func TestRuleRGCSizeLimitsAlongTheChain(t *testing.T) {
	for _, tc := range []struct {
		name    string
		limitAt int // index of the connector with the limit
		size    int64
		ndr     string
	}{
		{"limit on the first connector", 0, 2000, "m-a"},
		{"limit on the second connector of the chain", 1, 2000, "a-b"},
		{"limit on the last connector of the chain", 2, 2000, "b-c"},
		{"within every limit", 2, 500, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := coexistence()
			in.RGConnectors = []RoutingGroupConnector{
				{Name: "m-a", Groups: [2]string{ModernGroup, "rg-a"}, Cost: 1, SourceServers: []string{"hub1.chicago"}},
				{Name: "a-b", Groups: [2]string{"rg-a", "rg-b"}, Cost: 1},
				{Name: "b-c", Groups: [2]string{"rg-b", "rg-c"}, Cost: 1}}
			in.RGConnectors[tc.limitAt].MaxSize = 1000
			for _, from := range []string{"hub1.chicago", "hub1.dublin"} { // at the bridgehead and away from it
				r := legacyRoute(t, in, from, "x@x400.example", tc.size)
				if tc.ndr == "" && (r.NDR != "" || len(r.NextHops) == 0) || tc.ndr != "" && (!strings.HasPrefix(r.NDR, "552 5.3.4") || !strings.Contains(r.NDR, tc.ndr)) {
					t.Errorf("from %s: NDR %q hops %s", from, r.NDR, hopSites(r))
				}
			}
		})
	}
}

// Issue 11 defect 5: "Default cost of a routing-group connector is 1. A
// connector written without a cost (or with cost: 0) makes route
// explain panic"; defect 6: a negative cost hangs; defect 7: a connector
// from the modern group without a bridgehead. Topology validation is
// total (RT-12): each is decided at load.
func TestRuleRGCCostAndBridgehead(t *testing.T) {
	for _, tc := range []struct {
		name string
		rgc  RoutingGroupConnector
		err  string // "" accepted
		cost string // the summed cost the explanation gives
	}{
		{"cost omitted is 1", RoutingGroupConnector{Name: "m-c", Groups: [2]string{ModernGroup, "rg-c"}, SourceServers: []string{"hub1.chicago"}}, "", "summed cost 1;"},
		{"cost 7", RoutingGroupConnector{Name: "m-c", Groups: [2]string{ModernGroup, "rg-c"}, Cost: 7, SourceServers: []string{"hub1.chicago"}}, "", "summed cost 7;"},
		{"negative cost refused", RoutingGroupConnector{Name: "m-c", Groups: [2]string{ModernGroup, "rg-c"}, Cost: -1, SourceServers: []string{"hub1.chicago"}}, "cost must be 1 to 100", ""},
		{"cost above the range refused", RoutingGroupConnector{Name: "m-c", Groups: [2]string{ModernGroup, "rg-c"}, Cost: 101, SourceServers: []string{"hub1.chicago"}}, "cost must be 1 to 100", ""},
		{"no bridgehead on the modern side refused", RoutingGroupConnector{Name: "m-c", Groups: [2]string{ModernGroup, "rg-c"}}, "names no bridgehead", ""},
		{"a bridgehead that is not a hub refused", RoutingGroupConnector{Name: "m-c", Groups: [2]string{ModernGroup, "rg-c"}, SourceServers: []string{"mbx1.chicago"}}, "is not a hub", ""},
		{"a group to itself refused", RoutingGroupConnector{Name: "m-c", Groups: [2]string{"rg-c", "rg-c"}}, "to itself", ""},
		{"an unknown routing group refused", RoutingGroupConnector{Name: "m-c", Groups: [2]string{ModernGroup, "rg-x"}, SourceServers: []string{"hub1.chicago"}}, "unknown routing group", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := coexistence()
			in.Servers = removeServers(in.Servers, "ex-a", "ex-b") // only rg-c, joined by tc.rgc
			in.RGConnectors = []RoutingGroupConnector{tc.rgc}
			tp, err := NewTopology(in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			r := tp.Explain("hub1.atlanta", "x@x400.example", 1, NotAccepted)
			if why := strings.Join(r.Reasons, "\n"); !strings.Contains(why, tc.cost) || len(r.NextHops) == 0 {
				t.Errorf("hops %s\n%s", hopSites(r), why)
			}
		})
	}
}

func removeServers(ss []Server, names ...string) []Server {
	var out []Server
	for _, s := range ss {
		drop := false
		for _, n := range names {
			drop = drop || s.Name == n
		}
		if !drop {
			out = append(out, s)
		}
	}
	return out
}

// RT-8 / RT-10 — issue 11 defect 9: "A mailbox database on a legacy
// (2003) server ... mail for it must go through the routing-group
// connector to that server's routing group."
func TestRuleLegacyMailboxDatabase(t *testing.T) {
	in := coexistence()
	in.RGConnectors = []RoutingGroupConnector{
		{Name: "m-a", Groups: [2]string{ModernGroup, "rg-a"}, Cost: 1, SourceServers: []string{"hub1.london"}},
		{Name: "a-b", Groups: [2]string{"rg-a", "rg-b"}, Cost: 1},
		{Name: "b-c", Groups: [2]string{"rg-b", "rg-c"}, Cost: 1}}
	in.Databases = append(in.Databases, Database{Name: "db-a", Server: "ex-a"}, Database{Name: "db-c", Server: "ex-c"})
	in.Recipients = append(in.Recipients, RecipientMap{Match: "old.example", Database: "db-a"}, RecipientMap{Match: "older.example", Database: "db-c"})
	tp := topo(t, in)
	for _, tc := range []struct {
		from, rcpt, want string
	}{
		{"hub1.chicago", "u@old.example", "relay:london,relay:newyork"}, // towards the bridgehead
		{"hub1.london", "u@old.example", "legacy:"},                     // hand over
		{"hub1.london", "u@older.example", "legacy:"},                   // to rg-a, which relays on
		{"hub1.dublin", "u@older.example", "relay:london"},              // towards the bridgehead
		{"hub1.london", "u@london.example", "mailbox:london"},           // modern databases unchanged
	} {
		r := tp.Explain(tc.from, tc.rcpt, 1, Authoritative)
		if hopSites(r) != tc.want || r.NDR != "" {
			t.Errorf("%s -> %s: %s %q\n%s", tc.from, tc.rcpt, hopSites(r), r.NDR, strings.Join(r.Reasons, "\n"))
		}
	}
	// At the bridgehead the database's own server is the next hop when
	// it is in the first connector's group.
	if r := tp.Route("hub1.london", "u@old.example", 1, Authoritative); strings.Join(r.NextHops[0].Servers, ",") != "ex-a" {
		t.Errorf("next hop %v", r.NextHops[0].Servers)
	}
}

// Issue 11, loop protection: "a route never sends a message back to the
// server it came from within the organisation unless the path requires
// it."
func TestRuleNoRouteBackToTheOrigin(t *testing.T) {
	in := reference(false)
	in.Servers = append(in.Servers, Server{Name: "hub2.dublin", Role: RoleHub, Site: "dublin", Version: 2, Address: "10.5.0.11:25",
		Sources: []netip.Prefix{netip.MustParsePrefix("10.5.9.0/24")}})
	tp := topo(t, in)
	for _, tc := range []struct {
		name, from, origin, rcpt string
		want                     string // servers of each next hop
	}{
		{"origin among the destination's hubs: the others", "hub1.chicago", "hub2.dublin", "a@dublin.example", "hub1.dublin|hub1.london|hub1.newyork"},
		{"origin is a fallback: dropped", "hub1.chicago", "hub1.london", "a@dublin.example", "hub1.dublin,hub2.dublin|hub1.newyork"},
		{"origin is the only next hop the path allows: kept", "hub1.london", "hub1.dublin", "a@newyork.example", "hub1.newyork"},
		{"the path requires the origin", "hub1.chicago", "hub1.newyork", "a@newyork.example", "hub1.newyork"},
		{"origin outside the organisation: no change", "hub1.chicago", "", "a@dublin.example", "hub1.dublin,hub2.dublin|hub1.london|hub1.newyork"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tp.Explain(tc.from, tc.rcpt, 1, Authoritative)
			tp.AvoidOrigin(&r, tc.origin)
			var got []string
			for _, h := range r.NextHops {
				got = append(got, strings.Join(h.Servers, ","))
			}
			if strings.Join(got, "|") != tc.want {
				t.Errorf("next hops %s, want %s", strings.Join(got, "|"), tc.want)
			}
		})
	}
	for ip, want := range map[string]string{"10.5.0.11": "hub2.dublin", "10.5.9.7": "hub2.dublin", "192.0.2.1": ""} {
		if got := tp.ServerFrom(netip.MustParseAddr(ip)); got != want {
			t.Errorf("ServerFrom(%s) = %q, want %q", ip, got, want)
		}
	}
}

// RT-12: "topology validation total (no panic or hang on any accepted
// topology)": every numeric field ranged, every reference resolved.
func TestRuleTopologyValidationTotal(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*TopologyInput)
		err  string
	}{
		{"link cost 0", func(in *TopologyInput) { in.Links[0].Cost = 0 }, "cost must be 1 to"},
		{"link cost too high", func(in *TopologyInput) { in.Links[0].Cost = MaxLinkCost + 1 }, "cost must be 1 to"},
		{"negative umbra cost", func(in *TopologyInput) { in.Links[0].UmbraCost = -1 }, "cost must be 1 to"},
		{"negative link size", func(in *TopologyInput) { in.Links[0].MaxMessageSize = -1 }, "max message size"},
		{"negative version", func(in *TopologyInput) { in.Servers[0].Version = -2 }, "version must be"},
		{"unknown role", func(in *TopologyInput) { in.Servers[0].Role = "router" }, "unknown role"},
		{"legacy server without a group", func(in *TopologyInput) {
			in.Servers = append(in.Servers, Server{Name: "ex", Role: RoleLegacy})
		}, "needs a routing group"},
		{"legacy group unreachable", func(in *TopologyInput) {
			in.Servers = append(in.Servers, Server{Name: "ex", Role: RoleLegacy, RoutingGroup: "rg"})
		}, "cannot be reached"},
		{"address-space cost", func(in *TopologyInput) {
			in.Connectors = []SendConnector{{Name: "c", AddressSpaces: []AddressSpace{{"*", -1}}, SourceServers: []string{"hub1.chicago"}}}
		}, "address space cost"},
		{"database defined twice", func(in *TopologyInput) { in.Databases = append(in.Databases, in.Databases[0]) }, "defined twice"},
		{"database on a hub", func(in *TopologyInput) { in.Databases[0].Server = "hub1.chicago" }, "not a mailbox or legacy server"},
		{"disconnected", func(in *TopologyInput) { in.Links = in.Links[:4] }, "disconnected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := reference(false)
			tc.mod(&in)
			if _, err := NewTopology(in); err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("error %v, want %q", err, tc.err)
			}
		})
	}
}

// Issue 11, expansion groups: "a group address in the recipient map
// expands on the hub of the group's expansion site, and fan-out then
// applies to its members."
func TestRuleGroupExpansion(t *testing.T) {
	in := reference(false)
	in.Recipients = append(in.Recipients,
		RecipientMap{Match: "all@corp.example", Members: []string{"a@london.example", "b@dublin.example", "team@corp.example"}, ExpansionSite: "newyork"},
		RecipientMap{Match: "team@corp.example", Members: []string{"c@atlanta.example"}, ExpansionSite: "atlanta"})
	tp := topo(t, in)
	for _, tc := range []struct {
		name, from, rcpt, hops, expand string
	}{
		{"away from the expansion site: relayed towards it", "hub1.chicago", "all@corp.example", "relay:newyork", ""},
		{"at a hub of the expansion site: expanded", "hub1.newyork", "all@corp.example", "", "a@london.example,b@dublin.example,team@corp.example"},
		{"a nested group goes on to its own expansion site", "hub1.newyork", "team@corp.example", "relay:atlanta", ""},
		{"a mailbox server does not expand", "mbx1.newyork", "all@corp.example", "relay:newyork", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tp.Explain(tc.from, tc.rcpt, 1, Authoritative)
			if hopSites(r) != tc.hops || strings.Join(r.Expand, ",") != tc.expand {
				t.Errorf("hops %q expand %v\n%s", hopSites(r), r.Expand, strings.Join(r.Reasons, "\n"))
			}
		})
	}
	// A group of one says so in words.
	if r := tp.Explain("hub1.atlanta", "team@corp.example", 1, Authoritative); !strings.Contains(r.Destination, "expanded here into 1 member") || strings.Contains(r.Destination, "1 members") {
		t.Errorf("destination of a group of one: %q", r.Destination)
	}
	// The members, routed at the expansion hub, fan out: London and
	// Dublin share the path to London, where it forks.
	var routes []Route
	for _, m := range []string{"a@london.example", "b@dublin.example"} {
		routes = append(routes, tp.Route("hub1.newyork", m, 1, Authoritative))
	}
	if got := copiesOf(tp.FanOut("hub1.newyork", routes)); got != "a@london.example+b@dublin.example>relay:london[fork london]" {
		t.Errorf("members' copies: %s", got)
	}
	for name, mod := range map[string]func(*TopologyInput){
		"a cycle of groups": func(in *TopologyInput) {
			in.Recipients = append(in.Recipients, RecipientMap{Match: "x@corp.example", Members: []string{"y@corp.example"}, ExpansionSite: "chicago"},
				RecipientMap{Match: "y@corp.example", Members: []string{"x@corp.example"}, ExpansionSite: "chicago"})
		},
		"an unknown expansion site": func(in *TopologyInput) {
			in.Recipients = append(in.Recipients, RecipientMap{Match: "x@corp.example", Members: []string{"a@b.example"}, ExpansionSite: "paris"})
		},
		"no members": func(in *TopologyInput) {
			in.Recipients = append(in.Recipients, RecipientMap{Match: "x@corp.example", Members: []string{}, ExpansionSite: "chicago"})
		},
	} {
		in := reference(false)
		mod(&in)
		if _, err := NewTopology(in); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// rt56 F1: a fork site whose hubs do not answer does not hold the
// recipients that merely share its path: with the fork hop down they
// leave as the copies of their own routes (each with its own fallbacks),
// so a recipient whose destination answers is not tied to the hop that
// does not.
func TestRuleDelayedFanOutAroundADownForkHop(t *testing.T) {
	tp := topo(t, reference(false))
	rcpts := []string{"a@london.example", "b@dublin.example"}
	fan := func(down func(NextHop) bool) string {
		var routes []Route
		for _, rc := range rcpts {
			routes = append(routes, tp.Explain("hub1.chicago", rc, 1, Authoritative))
		}
		return copiesOf(tp.FanOutAround("hub1.chicago", routes, down))
	}
	if got, want := fan(nil), "a@london.example+b@dublin.example>relay:london[fork london]"; got != want {
		t.Fatalf("every hop up: %s, want %s", got, want)
	}
	londonDown := func(h NextHop) bool { return h.Site == "london" }
	if got, want := fan(londonDown), "a@london.example>relay:london b@dublin.example>relay:dublin"; got != want {
		t.Errorf("london's hubs down: %s, want %s", got, want)
	}
	otherDown := func(h NextHop) bool { return h.Site == "atlanta" }
	if got, want := fan(otherDown), "a@london.example+b@dublin.example>relay:london[fork london]"; got != want {
		t.Errorf("another site down: %s, want %s", got, want)
	}
}

// rt56 F3, the README's tie-break: after the total cost, "the nearest by
// kind" is this server, then this site, then another site — not the
// path cost, which is already in the total: two connectors of remote
// sites at equal total cost tie there and the name decides, though one
// source server is farther.
func TestRuleConnectorTieNearestByKind(t *testing.T) {
	in := reference(false)
	in.Connectors = []SendConnector{
		{Name: "tie-a", Enabled: true, AddressSpaces: []AddressSpace{{Domain: "tie.example", Cost: 1}}, SourceServers: []string{"hub1.london"}},
		{Name: "tie-z", Enabled: true, AddressSpaces: []AddressSpace{{Domain: "tie.example", Cost: 21}}, SourceServers: []string{"hub1.newyork"}},
	}
	tp := topo(t, in)
	if r := tp.Explain("hub1.chicago", "t@tie.example", 1, NotAccepted); r.Destination != "send connector tie-a" {
		t.Errorf("remote sites at equal total cost: %s, want tie-a (by name)", r.Destination)
	}
	in.Connectors[0].SourceServers = []string{"hub1.chicago"}
	in.Connectors[0].AddressSpaces[0].Cost = 31
	in.Connectors[1].AddressSpaces[0].Cost = 21
	in.Connectors[0].Name, in.Connectors[1].Name = "tie-z", "tie-a"
	tp = topo(t, in)
	if r := tp.Explain("hub1.chicago", "t@tie.example", 1, NotAccepted); r.Destination != "send connector tie-z" {
		t.Errorf("this server against a remote site at equal total cost: %s, want tie-z (this server)", r.Destination)
	}
}

// rdops49: a route that leads back to the server the message came from
// is what two servers' topologies disagreeing look like (in one
// topology a least-cost path never does); the reasons say what the
// deliverer does with it: the message waits 451 4.4.6 when it was at
// this server before, and goes back otherwise.
func TestRuleRouteBackToTheOriginSaysWhatHappens(t *testing.T) {
	tp := topo(t, reference(false))
	r := tp.Explain("hub1.london", "a@newyork.example", 1, Authoritative)
	tp.AvoidOrigin(&r, "hub1.newyork")
	why := strings.Join(r.Reasons, "\n")
	for _, want := range []string{"4.4.6", "disagree", "was at this server before"} {
		if !strings.Contains(why, want) {
			t.Errorf("the reasons do not say %q:\n%s", want, why)
		}
	}
}
