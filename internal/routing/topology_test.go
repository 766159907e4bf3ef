package routing

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// reference is the five-site organisation of the reference examples.
func reference(hubSites bool) TopologyInput {
	site := func(name, subnet string, hub bool) Site {
		return Site{Name: name, Subnets: []netip.Prefix{netip.MustParsePrefix(subnet)}, HubSite: hub && hubSites}
	}
	in := TopologyInput{
		Sites: []Site{site("chicago", "10.1.0.0/16", false), site("atlanta", "10.2.0.0/16", false),
			site("newyork", "10.3.0.0/16", true), site("london", "10.4.0.0/16", true), site("dublin", "10.5.0.0/16", false)},
		Links: []SiteLink{
			{Name: "chi-ny", Sites: []string{"chicago", "newyork"}, Cost: 10},
			{Name: "atl-ny", Sites: []string{"atlanta", "newyork"}, Cost: 10},
			{Name: "chi-atl", Sites: []string{"chicago", "atlanta"}, Cost: 15},
			{Name: "ny-lon", Sites: []string{"newyork", "london"}, Cost: 20},
			{Name: "lon-dub", Sites: []string{"london", "dublin"}, Cost: 10},
		},
	}
	for _, s := range []string{"chicago", "atlanta", "newyork", "london", "dublin"} {
		in.Servers = append(in.Servers, Server{Name: "hub1." + s, Role: RoleHub, Site: s, Version: 2, Address: "hub1." + s + ":25"},
			Server{Name: "mbx1." + s, Role: RoleMailbox, Site: s, Version: 2, Address: "mbx1." + s + ":24"})
		in.Databases = append(in.Databases, Database{Name: "db-" + s, Server: "mbx1." + s})
		in.Recipients = append(in.Recipients, RecipientMap{Match: s + ".example", Database: "db-" + s})
	}
	return in
}

func topo(t *testing.T, in TopologyInput) *Topology {
	t.Helper()
	tp, err := NewTopology(in)
	if err != nil {
		t.Fatal(err)
	}
	return tp
}

func hopSites(r Route) string {
	var s []string
	for _, h := range r.NextHops {
		s = append(s, h.Kind+":"+h.Site)
	}
	return strings.Join(s, ",")
}

func pathSites(r Route) string {
	var s []string
	for _, p := range r.Path {
		s = append(s, p.Site)
	}
	return strings.Join(s, ">")
}

func TestReferenceHubSites(t *testing.T) {
	with, without := topo(t, reference(true)), topo(t, reference(false))
	for _, tc := range []struct {
		tp         *Topology
		from, rcpt string
		path, hops string
	}{
		// Chicago -> Dublin travels Chicago -> New York -> London -> Dublin,
		// relayed at each hub site.
		{with, "hub1.chicago", "a@dublin.example", "chicago>newyork>london>dublin", "relay:newyork"},
		{with, "hub1.newyork", "a@dublin.example", "newyork>london>dublin", "relay:london"},
		{with, "hub1.london", "a@dublin.example", "london>dublin", "relay:dublin"},
		{with, "hub1.atlanta", "a@dublin.example", "atlanta>newyork>london>dublin", "relay:newyork"},
		// Without hub sites: directly to Dublin; London, then New York,
		// are where it queues when Dublin does not answer.
		{without, "hub1.chicago", "a@dublin.example", "chicago>newyork>london>dublin", "relay:dublin,relay:london,relay:newyork"},
		{without, "hub1.atlanta", "a@dublin.example", "atlanta>newyork>london>dublin", "relay:dublin,relay:london,relay:newyork"},
		// Same site, same version: straight to the mailbox server.
		{with, "hub1.dublin", "a@dublin.example", "", "mailbox:dublin"},
	} {
		r := tc.tp.Explain(tc.from, tc.rcpt, 1000, Authoritative)
		if pathSites(r) != tc.path || hopSites(r) != tc.hops {
			t.Errorf("%s -> %s: path %s hops %s; want %s and %s\n%s", tc.from, tc.rcpt, pathSites(r), hopSites(r),
				tc.path, tc.hops, strings.Join(r.Reasons, "\n"))
		}
	}
}

func TestTiesAndOverrides(t *testing.T) {
	in := reference(false)
	// A second way from Chicago to New York of equal cost but two hops
	// (via Atlanta, 5 + 5): the one-hop link wins.
	in.Links[2].Cost, in.Links[1].Cost = 5, 5
	r := topo(t, in).Route("hub1.chicago", "a@newyork.example", 1, Authoritative)
	if pathSites(r) != "chicago>newyork" {
		t.Errorf("equal cost: fewer hops wins, got %s", pathSites(r))
	}
	// The umbra cost replaces the cost: make the direct link expensive.
	in.Links[0].UmbraCost = 50
	r = topo(t, in).Route("hub1.chicago", "a@newyork.example", 1, Authoritative)
	if pathSites(r) != "chicago>atlanta>newyork" {
		t.Errorf("umbra cost override: got %s", pathSites(r))
	}
	// Equal cost and hops: the predecessor whose name sorts first.
	tie := TopologyInput{
		Sites: []Site{{Name: "a"}, {Name: "m"}, {Name: "b"}, {Name: "z"}},
		Links: []SiteLink{{Name: "a-m", Sites: []string{"a", "m"}, Cost: 1}, {Name: "m-z", Sites: []string{"m", "z"}, Cost: 1},
			{Name: "a-b", Sites: []string{"a", "b"}, Cost: 1}, {Name: "b-z", Sites: []string{"b", "z"}, Cost: 1}},
		Servers: []Server{{Name: "h", Role: RoleHub, Site: "a"}, {Name: "hz", Role: RoleHub, Site: "z"},
			{Name: "mz", Role: RoleMailbox, Site: "z"}},
		Databases:  []Database{{Name: "d", Server: "mz"}},
		Recipients: []RecipientMap{{Match: "z.example", Database: "d"}},
	}
	for i := 0; i < 5; i++ { // deterministic, whatever the map order
		if p := pathSites(topo(t, tie).Route("h", "x@z.example", 1, Authoritative)); p != "a>b>z" {
			t.Fatalf("tie-break: %s", p)
		}
	}
}

func TestSizeLimitOnPath(t *testing.T) {
	in := reference(true)
	in.Links[3].MaxMessageSize = 10 << 20 // ny-lon
	tp := topo(t, in)
	r := tp.Route("hub1.chicago", "a@dublin.example", 20<<20, Authoritative)
	if !strings.HasPrefix(r.NDR, "552 5.3.4") || !strings.Contains(r.NDR, "ny-lon") || len(r.NextHops) != 0 {
		t.Fatalf("NDR %q hops %v", r.NDR, r.NextHops)
	}
	if r := tp.Route("hub1.chicago", "a@dublin.example", 1<<20, Authoritative); r.NDR != "" {
		t.Fatalf("a small message: %q", r.NDR)
	}
	if r := tp.Route("hub1.chicago", "a@atlanta.example", 20<<20, Authoritative); r.NDR != "" {
		t.Fatalf("a path without the limited link: %q", r.NDR)
	}
}

// Recipients in three sites sharing part of a path travel together as far
// as the paths go together.
func TestDelayedFanOut(t *testing.T) {
	tp := topo(t, reference(true))
	keys := map[string]string{}
	for _, rc := range []string{"a@london.example", "b@dublin.example", "c@atlanta.example", "d@newyork.example"} {
		r := tp.Route("hub1.chicago", rc, 1, Authoritative)
		keys[rc] = r.GroupKey()
	}
	if keys["a@london.example"] != keys["b@dublin.example"] {
		t.Errorf("London and Dublin share the way to New York: %q vs %q", keys["a@london.example"], keys["b@dublin.example"])
	}
	if keys["a@london.example"] == keys["c@atlanta.example"] {
		t.Error("Atlanta forks at Chicago")
	}
	// From New York both still go to London, a hub site; they split at
	// London, where the paths fork.
	a, b := tp.Route("hub1.newyork", "a@london.example", 1, Authoritative), tp.Route("hub1.newyork", "b@dublin.example", 1, Authoritative)
	if a.GroupKey() != b.GroupKey() {
		t.Error("split at New York, before the paths fork")
	}
	a, b = tp.Route("hub1.london", "a@london.example", 1, Authoritative), tp.Route("hub1.london", "b@dublin.example", 1, Authoritative)
	if a.GroupKey() == b.GroupKey() {
		t.Error("no split at London, where the paths fork")
	}
}

func TestMailboxVersions(t *testing.T) {
	in := reference(false)
	in.Servers = append(in.Servers, Server{Name: "hub2.dublin", Role: RoleHub, Site: "dublin", Version: 3, Address: "hub2.dublin:25"},
		Server{Name: "mbx3.dublin", Role: RoleMailbox, Site: "dublin", Version: 3, Address: "mbx3.dublin:24"})
	in.Databases = append(in.Databases, Database{Name: "db3", Server: "mbx3.dublin"})
	in.Recipients = append(in.Recipients, RecipientMap{Match: "new@dublin.example", Database: "db3"})
	tp := topo(t, in)
	r := tp.Route("hub1.dublin", "new@dublin.example", 1, Authoritative)
	if len(r.NextHops) != 1 || r.NextHops[0].Kind != HopRelay || strings.Join(r.NextHops[0].Servers, ",") != "hub2.dublin" {
		t.Errorf("other version: %+v", r.NextHops)
	}
	if r := tp.Route("hub1.dublin", "old@dublin.example", 1, Authoritative); hopSites(r) != "mailbox:dublin" {
		t.Errorf("an exact address beats the domain only when it matches: %s", hopSites(r))
	}
}

func TestConnectorSelectionRules(t *testing.T) {
	base := func() TopologyInput {
		in := reference(false)
		in.Servers = append(in.Servers, Server{Name: "hub2.chicago", Role: RoleHub, Site: "chicago", Version: 2, Address: "hub2.chicago:25"},
			Server{Name: "edge1.chicago", Role: RoleEdge, Site: "chicago", Version: 2, Address: "edge1.chicago:25"})
		return in
	}
	conn := func(name string, cost int, space string, srcs ...string) SendConnector {
		return SendConnector{Name: name, AddressSpaces: []AddressSpace{{Domain: space, Cost: cost}}, SourceServers: srcs, Enabled: true}
	}
	for _, tc := range []struct {
		name  string
		conns []SendConnector
		want  string
	}{
		{"most specific address space", []SendConnector{conn("all", 1, "*", "hub1.chicago"), conn("partner", 50, "*.partner.example", "hub1.dublin")}, "partner"},
		{"lowest cost including the path to the source server",
			[]SendConnector{conn("via-dublin", 1, "*", "hub1.dublin"), conn("via-atlanta", 10, "*", "hub1.atlanta")}, "via-atlanta"},
		{"proximity: the local server", []SendConnector{conn("b-local", 5, "*", "hub1.chicago"), conn("a-site", 5, "*", "hub2.chicago")}, "b-local"},
		{"name when all else ties", []SendConnector{conn("zeta", 5, "*", "hub2.chicago"), conn("alpha", 5, "*", "hub2.chicago")}, "alpha"},
		{"disabled connectors are skipped", []SendConnector{func() SendConnector { c := conn("off", 1, "*", "hub1.chicago"); c.Enabled = false; return c }(),
			conn("on", 90, "*", "hub1.dublin")}, "on"},
		{"site-scoped connectors are invisible elsewhere", []SendConnector{func() SendConnector { c := conn("dublin-only", 1, "*", "hub1.dublin"); c.SiteScoped = true; return c }(),
			conn("org", 90, "*", "hub1.london")}, "org"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := base()
			in.Connectors = tc.conns
			r := topo(t, in).Explain("hub1.chicago", "x@mail.partner.example", 1, NotAccepted)
			if r.Destination != "send connector "+tc.want {
				t.Errorf("got %s\n%s", r.Destination, strings.Join(r.Reasons, "\n"))
			}
		})
	}
	// The chosen connector's source server is remote: relay to its site.
	in := base()
	in.Connectors = []SendConnector{conn("internet", 1, "*", "hub1.dublin")}
	r := topo(t, in).Route("hub1.chicago", "x@example.com", 1, NotAccepted)
	if hopSites(r) != "relay:dublin,relay:london,relay:newyork" {
		t.Errorf("relay to the source server's site: %s", hopSites(r))
	}
	if r := topo(t, in).Route("hub1.dublin", "x@example.com", 1, NotAccepted); hopSites(r) != "connector:dublin" {
		t.Errorf("at the source server: %s", hopSites(r))
	}
	// An edge sends accepted mail to the hubs of its site, other mail only
	// through connectors it is a source server of.
	in.Connectors = append(in.Connectors, conn("edge-out", 1, "*", "edge1.chicago"))
	tp := topo(t, in)
	if r := tp.Route("edge1.chicago", "a@dublin.example", 1, InternalRelay); hopSites(r) != "relay:chicago" {
		t.Errorf("edge inbound: %s", hopSites(r))
	}
	if r := tp.Route("edge1.chicago", "x@example.com", 1, NotAccepted); r.Destination != "send connector edge-out" || hopSites(r) != "connector:chicago" {
		t.Errorf("edge outbound: %s %s", r.Destination, hopSites(r))
	}
}

func TestCoexistence(t *testing.T) {
	in := reference(false)
	in.Servers = append(in.Servers, Server{Name: "legacy1", Role: RoleLegacy, RoutingGroup: "rg-old", Address: "legacy1:25"},
		Server{Name: "legacy2", Role: RoleLegacy, RoutingGroup: "rg-mid", Address: "legacy2:25"})
	in.RGConnectors = []RoutingGroupConnector{
		{Name: "rgc-direct", Groups: [2]string{ModernGroup, "rg-old"}, Cost: 10, SourceServers: []string{"hub1.chicago"}},
		{Name: "rgc-mid", Groups: [2]string{ModernGroup, "rg-mid"}, Cost: 3, SourceServers: []string{"hub1.dublin"}},
		{Name: "rgc-mid-old", Groups: [2]string{"rg-mid", "rg-old"}, Cost: 3},
	}
	in.Connectors = []SendConnector{
		{Name: "legacy-smtp", AddressSpaces: []AddressSpace{{Domain: "legacy.example", Cost: 1}}, SourceServers: []string{"legacy1"}, Enabled: true},
	}
	tp := topo(t, in)
	// rgc-mid + rgc-mid-old (6) beats rgc-direct (10), although Dublin is
	// farther from Chicago than Chicago itself: site-link cost only breaks ties.
	r := tp.Explain("hub1.chicago", "x@legacy.example", 1, NotAccepted)
	if !strings.Contains(strings.Join(r.Reasons, "\n"), "rgc-mid") || hopSites(r) != "relay:dublin,relay:london,relay:newyork" {
		t.Fatalf("least routing-group-connector cost: %s\n%s", hopSites(r), strings.Join(r.Reasons, "\n"))
	}
	if r := tp.Route("hub1.dublin", "x@legacy.example", 1, NotAccepted); len(r.NextHops) != 1 || r.NextHops[0].Kind != HopLegacy {
		t.Fatalf("at the bridgehead: %+v", r.NextHops)
	}
	// A modern connector for the same address space wins over the legacy one.
	in.Connectors = append(in.Connectors, SendConnector{Name: "modern", AddressSpaces: []AddressSpace{{Domain: "legacy.example", Cost: 100}},
		SourceServers: []string{"hub1.london"}, Enabled: true})
	if r := topo(t, in).Route("hub1.chicago", "x@legacy.example", 1, NotAccepted); r.Destination != "send connector modern" {
		t.Fatalf("modern beats legacy: %s", r.Destination)
	}
}

func TestValidationAndSiteMembership(t *testing.T) {
	in := reference(false)
	in.Servers = append(in.Servers, Server{Name: "hub9", Role: RoleHub, Address: "10.4.1.7:25"})
	tp := topo(t, in)
	if s, _ := tp.Server("hub9"); s.Site != "london" {
		t.Errorf("site by longest prefix: %q", s.Site)
	}
	for name, mod := range map[string]func(*TopologyInput){
		"unknown site in link": func(in *TopologyInput) { in.Links[0].Sites[1] = "paris" },
		"duplicate site":       func(in *TopologyInput) { in.Sites = append(in.Sites, in.Sites[0]) },
		"duplicate server":     func(in *TopologyInput) { in.Servers = append(in.Servers, in.Servers[0]) },
		"disconnected":         func(in *TopologyInput) { in.Links = in.Links[:4] },
		"no site for address": func(in *TopologyInput) {
			in.Servers = append(in.Servers, Server{Name: "x", Role: RoleHub, Address: "192.0.2.1:25"})
		},
		"database on a hub": func(in *TopologyInput) { in.Databases[0].Server = "hub1.chicago" },
		"unknown source server": func(in *TopologyInput) {
			in.Connectors = []SendConnector{{Name: "c", SourceServers: []string{"ghost"}}}
		},
	} {
		in := reference(false)
		mod(&in)
		if _, err := NewTopology(in); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// BenchmarkPathTable computes the least-cost paths from one site of a
// 1,000-site, 5,000-link topology (done once per topology version).
func BenchmarkPathTable(b *testing.B) {
	in := bigTopology(1000, 5000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tp, err := NewTopology(in) // includes the connectivity check from site 0
		if err != nil {
			b.Fatal(err)
		}
		_ = tp
	}
}

// BenchmarkRoute100Recipients routes one 100-recipient message across 20
// sites with the path tables already built: no graph search per message.
func BenchmarkRoute100Recipients(b *testing.B) {
	in := bigTopology(20, 60)
	tp, err := NewTopology(in)
	if err != nil {
		b.Fatal(err)
	}
	rcpts := make([]string, 100)
	for i := range rcpts {
		rcpts[i] = fmt.Sprintf("u%d@s%d.example", i, i%20)
	}
	tp.Route("hub-s0", rcpts[0], 1, Authoritative)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, r := range rcpts {
			tp.Route("hub-s0", r, 4096, Authoritative)
		}
	}
}

func bigTopology(sites, links int) TopologyInput {
	var in TopologyInput
	for i := 0; i < sites; i++ {
		s := fmt.Sprintf("s%d", i)
		in.Sites = append(in.Sites, Site{Name: s, HubSite: i%50 == 0})
		in.Servers = append(in.Servers, Server{Name: "hub-" + s, Role: RoleHub, Site: s, Address: s + ":25"},
			Server{Name: "mbx-" + s, Role: RoleMailbox, Site: s, Address: s + ":24"})
		in.Databases = append(in.Databases, Database{Name: "db-" + s, Server: "mbx-" + s})
		in.Recipients = append(in.Recipients, RecipientMap{Match: s + ".example", Database: "db-" + s})
	}
	for i := 0; i < links; i++ {
		a, b := i%sites, (i*7919+1)%sites
		if i < sites-1 {
			a, b = i, i+1 // a spanning chain keeps the graph connected
		}
		if a == b {
			b = (b + 1) % sites
		}
		in.Links = append(in.Links, SiteLink{Name: fmt.Sprintf("l%d", i), Sites: []string{fmt.Sprintf("s%d", a), fmt.Sprintf("s%d", b)}, Cost: 1 + i%17})
	}
	return in
}

// FuzzRoute builds small topologies from bytes (sites, links, costs, hub
// flags, limits) and checks what every route must satisfy: no panic; a
// path runs from the local site to the destination with non-decreasing
// cost along links that exist; next hops are sites of the path.
func FuzzRoute(f *testing.F) {
	f.Add([]byte{5, 0, 1, 10, 1, 2, 20, 2, 3, 5, 3, 4, 1, 0, 4}, int64(100))
	f.Add([]byte{3, 0, 1, 1, 1, 2, 1, 0, 2, 1}, int64(1<<30))
	f.Fuzz(func(t *testing.T, b []byte, size int64) {
		if len(b) < 2 {
			return
		}
		n := int(b[0])%8 + 2
		in := TopologyInput{}
		for i := 0; i < n; i++ {
			s := fmt.Sprintf("s%d", i)
			in.Sites = append(in.Sites, Site{Name: s, HubSite: i < len(b) && b[i]%3 == 0})
			in.Servers = append(in.Servers, Server{Name: "h" + s, Role: RoleHub, Site: s, Address: s + ":25"},
				Server{Name: "m" + s, Role: RoleMailbox, Site: s, Address: s + ":24"})
			in.Databases = append(in.Databases, Database{Name: "d" + s, Server: "m" + s})
			in.Recipients = append(in.Recipients, RecipientMap{Match: s + ".example", Database: "d" + s})
		}
		for i := 0; i+1 < n; i++ { // keep it connected
			in.Links = append(in.Links, SiteLink{Name: fmt.Sprintf("c%d", i), Sites: []string{fmt.Sprintf("s%d", i), fmt.Sprintf("s%d", i+1)}, Cost: 50})
		}
		for i := 1; i+2 < len(b); i += 3 {
			a, c := int(b[i])%n, int(b[i+1])%n
			if a == c {
				continue
			}
			in.Links = append(in.Links, SiteLink{Name: fmt.Sprintf("l%d", i), Sites: []string{fmt.Sprintf("s%d", a), fmt.Sprintf("s%d", c)},
				Cost: int(b[i+2])%40 + 1, MaxMessageSize: int64(b[i+2]) * 1000})
		}
		in.Connectors = []SendConnector{{Name: "out", AddressSpaces: []AddressSpace{{Domain: "*", Cost: 1}},
			SourceServers: []string{fmt.Sprintf("hs%d", n-1)}, Enabled: true}}
		// Legacy routing groups g0..gk behind routing-group connectors
		// with costs 0 (the default 1) to 100, limits, a chain and cycles;
		// a legacy connector (scoped or not) and a database on a legacy
		// server (issue 11 defects 2 to 9).
		k := int(b[len(b)-1])%3 + 1
		for g := 0; g < k; g++ {
			in.Servers = append(in.Servers, Server{Name: fmt.Sprintf("ex%d", g), Role: RoleLegacy, RoutingGroup: fmt.Sprintf("g%d", g), Address: "ex:25"})
			from := ModernGroup
			if g > 0 && b[g%len(b)]%2 == 0 {
				from = fmt.Sprintf("g%d", g-1)
			}
			rgc := RoutingGroupConnector{Name: fmt.Sprintf("rgc%d", g), Groups: [2]string{from, fmt.Sprintf("g%d", g)},
				Cost: int(b[(g+1)%len(b)]) % (MaxRGCCost + 1), MaxSize: int64(b[(g+2)%len(b)]) * 500}
			if from == ModernGroup {
				rgc.SourceServers = []string{fmt.Sprintf("hs%d", int(b[(g+3)%len(b)])%n)}
			}
			in.RGConnectors = append(in.RGConnectors, rgc)
		}
		if k > 1 { // a cycle among the routing groups
			in.RGConnectors = append(in.RGConnectors, RoutingGroupConnector{Name: "rgc-back", Groups: [2]string{"g0", fmt.Sprintf("g%d", k-1)}, Cost: 1})
		}
		in.Connectors = append(in.Connectors, SendConnector{Name: "x400", AddressSpaces: []AddressSpace{{Domain: "x400.example", Cost: 1}},
			SourceServers: []string{fmt.Sprintf("ex%d", k-1)}, SiteScoped: b[0]%2 == 1, Enabled: true})
		in.Databases = append(in.Databases, Database{Name: "dold", Server: fmt.Sprintf("ex%d", k-1)})
		in.Recipients = append(in.Recipients, RecipientMap{Match: "old.example", Database: "dold"})
		tp, err := NewTopology(in)
		if err != nil {
			t.Fatalf("a connected topology was refused: %v", err)
		}
		// Routing every recipient from every server ends, in bounded time.
		done := make(chan struct{})
		go func() {
			defer close(done)
			var all []string
			for i := 0; i < n; i++ {
				all = append(all, fmt.Sprintf("u%d@s%d.example", i, i))
			}
			all = append(all, "a@x400.example", "b@old.example", "c@internet.example")
			for from := 0; from < n; from++ {
				local := fmt.Sprintf("hs%d", from)
				var routes []Route
				for _, rc := range all {
					r := tp.Explain(local, rc, size, Authoritative)
					if r.NDR == "" && len(r.NextHops) == 0 && len(r.Expand) == 0 && r.Destination != "no send connector" {
						t.Errorf("%s -> %s: no next hop, no NDR: %+v", local, rc, r)
					}
					routes = append(routes, r)
				}
				for _, c := range tp.FanOut(local, routes) {
					if len(c.Recipients) == 0 || len(c.NextHops) == 0 {
						t.Errorf("empty copy %+v", c)
					}
				}
				for i := range routes {
					tp.AvoidOrigin(&routes[i], fmt.Sprintf("hs%d", (from+1)%n))
				}
			}
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("routing did not finish within 10 s")
		}
		links := map[string]bool{}
		for _, l := range in.Links {
			links[l.Name] = true
		}
		for from := 0; from < n; from++ {
			for _, rc := range []string{fmt.Sprintf("x@s%d.example", int(b[1])%n), "y@internet.example"} {
				r := tp.Explain(fmt.Sprintf("hs%d", from), rc, size, Authoritative)
				if len(r.Path) > 0 {
					if r.Path[0].Site != fmt.Sprintf("s%d", from) || r.Path[len(r.Path)-1].Site != r.DestSite {
						t.Fatalf("path %v from s%d to %s", r.Path, from, r.DestSite)
					}
					for i := 1; i < len(r.Path); i++ {
						if !links[r.Path[i].Link] || r.Path[i].Cost < r.Path[i-1].Cost {
							t.Fatalf("bad step %d of %v", i, r.Path)
						}
					}
				}
				onPath := map[string]bool{}
				for _, p := range r.Path {
					onPath[p.Site] = true
				}
				for _, h := range r.NextHops {
					if h.Kind == HopRelay && len(r.Path) > 0 && !onPath[h.Site] {
						t.Fatalf("next hop %s is not on the path %v", h.Site, r.Path)
					}
				}
				if r.NDR == "" && len(r.NextHops) == 0 {
					t.Fatalf("no next hop and no NDR: %+v", r)
				}
			}
		}
	})
}
