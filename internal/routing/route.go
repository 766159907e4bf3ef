package routing

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"umbra/internal/mailaddr"
)

// Next hop kinds.
const (
	HopMailbox   = "mailbox"   // deliver to a mailbox server
	HopRelay     = "relay"     // relay to a hub of a site
	HopConnector = "connector" // deliver through a send connector from here
	HopLegacy    = "legacy"    // hand to a legacy routing group's server
)

// NextHop is one place a recipient can be handed to.
type NextHop struct {
	Kind      string   `json:"kind"`
	Site      string   `json:"site,omitempty"`
	Servers   []string `json:"servers,omitempty"` // candidate servers, in name order
	Addresses []string `json:"addresses,omitempty"`
	Connector string   `json:"connector,omitempty"`
	// Database is the mailbox database of a mailbox hop: one delivery
	// queue, one dumpster and one duplicate record per database.
	Database string `json:"database,omitempty"`
}

// Key names the next hop; recipients with equal keys travel together.
func (h NextHop) Key() string {
	switch h.Kind {
	case HopConnector:
		return "connector:" + h.Connector
	case HopMailbox:
		return "mailbox:" + h.Database
	case HopLegacy:
		return "legacy:" + strings.Join(h.Servers, ",")
	}
	return "site:" + h.Site + "/" + strings.Join(h.Servers, ",")
}

// Route is where a recipient goes from a server, and why.
type Route struct {
	Recipient   string     `json:"recipient"`
	Destination string     `json:"destination"` // e.g. "database DB1 on mbx1 (site dublin)"
	DestSite    string     `json:"destination_site,omitempty"`
	Path        []PathStep `json:"path,omitempty"`
	// NextHops are tried in order: the first is the next hop; the rest
	// are the sites nearer the source where the message queues when the
	// destination does not answer (queue at point of failure, RT-5).
	NextHops []NextHop `json:"next_hops,omitempty"`
	// NDR, when set, is the permanent failure routing decided (RT-7).
	NDR string `json:"ndr,omitempty"`
	// Expand, when set, is the members of a group expanded here (on a
	// hub of its expansion site): the group recipient is replaced by
	// them, and they are routed (and fanned out) in their turn.
	Expand  []string `json:"expand,omitempty"`
	Reasons []string `json:"reasons,omitempty"`
	// Tempfail, when set, is why the recipient waits and is routed again
	// later (the directory could not assign its mailbox database).
	Tempfail string `json:"tempfail,omitempty"`
	// Lookup (PlanRoute only): the directory must be asked for the
	// recipient's mailbox database; the route has no next hop yet.
	Lookup bool `json:"lookup,omitempty"`
	// Connector is the send connector the route leaves the organisation
	// through, whichever server is its source ("" for a destination
	// inside): whose TLS and auth settings an operator's redirect of
	// such mail uses (delivery, redirectConnector).
	Connector string `json:"-"`

	explain bool
	delayed bool // FanOut sent it to a fork site (RT-6)
}

// GroupKey is what recipients of one message must share to travel as one
// copy: their paths fork only where their next hops differ (delayed
// fan-out, RT-6).
func (r *Route) GroupKey() string {
	if r.NDR != "" || len(r.NextHops) == 0 {
		return ""
	}
	var k []string
	for _, h := range r.NextHops {
		k = append(k, h.Key())
	}
	return strings.Join(k, "|")
}

func (r *Route) why(format string, args ...any) {
	r.Reasons = append(r.Reasons, fmt.Sprintf(format, args...))
}

// Route computes the route of rcpt for a message of size bytes at the
// server named local. accepted tells whether the recipient's domain is
// one of the organisation's (from the accepted domains).
func (t *Topology) Route(local, rcpt string, size int64, accepted DomainType) Route {
	return t.route(context.Background(), local, rcpt, size, accepted, false, false)
}

// RouteContext is Route for a delivery attempt: ctx bounds and marks
// what the database source does (a directory lookup waits on a peer).
func (t *Topology) RouteContext(ctx context.Context, local, rcpt string, size int64, accepted DomainType) Route {
	return t.route(ctx, local, rcpt, size, accepted, false, false)
}

// PlanRoute is Route without I/O, for a delivery's plan: a recipient
// whose mailbox database only the directory can tell now (not in its
// cache) gets Lookup and no next hop; the attempt routes it again with
// RouteContext, where asking may wait.
func (t *Topology) PlanRoute(local, rcpt string, size int64, accepted DomainType) Route {
	return t.route(context.Background(), local, rcpt, size, accepted, false, true)
}

// Explain is Route with the reason for every choice (RT-11).
func (t *Topology) Explain(local, rcpt string, size int64, accepted DomainType) Route {
	return t.route(context.Background(), local, rcpt, size, accepted, true, false)
}

func (t *Topology) route(ctx context.Context, local, rcpt string, size int64, accepted DomainType, explain, noIO bool) Route {
	r := Route{Recipient: rcpt, explain: explain}
	me := t.server(local)
	ok := me != nil
	if !ok {
		r.NDR = "550 5.4.4 server " + local + " is not in the topology"
		r.why("the local server is not in the topology")
		return r
	}
	domain := mailaddr.AddrKey(rcpt[strings.LastIndexByte(rcpt, '@')+1:])

	if g := t.groups[mailaddr.AddrKey(rcpt)]; g != nil && me.Role != RoleEdge {
		t.routeGroup(&r, me, g, size)
		return r
	}
	if me.Role == RoleEdge {
		if accepted != NotAccepted {
			hubs := t.Hubs(me.Site)
			r.Destination, r.DestSite = "the hubs of site "+me.Site, me.Site
			r.why("edge server: mail for accepted domain %s goes to the hubs of its own site %s", domain, me.Site)
			r.NextHops = []NextHop{{Kind: HopRelay, Site: me.Site, Servers: names(hubs), Addresses: addrs(hubs)}}
			return r
		}
		t.routeConnector(&r, me, domain, size, true)
		return r
	}
	if db, tempfail, lookup := t.assigned(ctx, rcpt, noIO); lookup {
		r.Lookup, r.Destination = true, "the mailbox database the directory assigns"
		r.why("only the directory can assign the mailbox database of %s now: routed when the attempt asks it", rcpt)
		return r
	} else if tempfail != "" {
		r.Tempfail, r.Destination = tempfail, "the mailbox database the directory assigns"
		r.why("the directory cannot assign the mailbox database of %s now: the recipient waits", rcpt)
		return r
	} else if db != nil {
		r.why("the directory assigns %s to mailbox database %s", rcpt, db.Name)
		t.routeMailbox(&r, me, db, size)
		return r
	}
	if db := t.database(rcpt, domain); db != nil {
		t.routeMailbox(&r, me, db, size)
		return r
	}
	if accepted == Authoritative {
		// The topology maps no database, but the domain is this
		// server's: its own mailbox store (the configuration's
		// mailbox:), never the send connectors — they would send the
		// organisation's own mail out (and back in).
		r.Destination = "the local mailbox store"
		r.DestSite = me.Site
		r.why("%s is authoritative on this server and the topology maps no mailbox database for %s: deliver into this server's own mailbox store (mailbox: of its configuration)", domain, rcpt)
		r.NextHops = []NextHop{{Kind: HopMailbox}} // no server, no database of the topology: as Table.Explain
		return r
	}
	t.routeConnector(&r, me, domain, size, false)
	return r
}

// routeGroup expands a group on a hub of its expansion site, and routes
// it there from anywhere else (the expansion server, by site).
func (t *Topology) routeGroup(r *Route, me *Server, g *RecipientMap, size int64) {
	r.DestSite = g.ExpansionSite
	if me.Role == RoleHub && me.Site == g.ExpansionSite {
		members := "members"
		if len(g.Members) == 1 {
			members = "member"
		}
		r.Destination = fmt.Sprintf("group %s, expanded here into %d %s", g.Match, len(g.Members), members)
		r.why("%s is a group whose expansion site is this one (%s): this hub expands it, then routes each member (delayed fan-out applies to them)",
			g.Match, g.ExpansionSite)
		r.Expand = append([]string(nil), g.Members...)
		return
	}
	r.Destination = fmt.Sprintf("group %s, expanded in site %s", g.Match, g.ExpansionSite)
	r.why("%s is a group expanded by the hubs of site %s: relay it there", g.Match, g.ExpansionSite)
	t.routeSite(r, me, g.ExpansionSite, t.Hubs(g.ExpansionSite), size)
}

// database finds the mailbox database of a recipient: the exact address
// first, then the domain, then the longest "*.domain" pattern.
func (t *Topology) database(rcpt, domain string) *Database {
	if db, ok := t.rcptExact[mailaddr.AddrKey(rcpt)]; ok {
		return t.databases[db]
	}
	if db, ok := t.rcptExact[domain]; ok {
		return t.databases[db]
	}
	for _, w := range t.rcptWild { // longest suffix first
		if strings.HasSuffix(domain, w.Match) {
			return t.databases[w.Database]
		}
	}
	return nil
}

// routeMailbox is RT-8.
func (t *Topology) routeMailbox(r *Route, me *Server, db *Database, size int64) {
	mbx := t.servers[db.Server]
	if mbx.Role == RoleLegacy {
		r.Destination = fmt.Sprintf("database %s on legacy server %s (routing group %s)", db.Name, mbx.Name, mbx.RoutingGroup)
		r.why("mailbox server %s is a legacy server: through the routing group connectors to its routing group %s (RT-10)", mbx.Name, mbx.RoutingGroup)
		t.routeLegacy(r, me, mbx.RoutingGroup, mbx.Name, size)
		return
	}
	r.Destination = fmt.Sprintf("database %s on %s (site %s, version %d)", db.Name, mbx.Name, mbx.Site, mbx.Version)
	r.DestSite = mbx.Site
	switch {
	case mbx.Site == me.Site && mbx.Version == me.Version:
		r.why("mailbox server %s is in this site (%s) with this version (%d): deliver directly", mbx.Name, me.Site, me.Version)
		r.NextHops = []NextHop{{Kind: HopMailbox, Site: mbx.Site, Servers: []string{mbx.Name}, Addresses: []string{mbx.Address}, Database: db.Name}}
	case mbx.Site == me.Site:
		var hubs []*Server
		for _, h := range t.Hubs(me.Site) {
			if h.Version == mbx.Version {
				hubs = append(hubs, h)
			}
		}
		r.why("mailbox server %s runs version %d, this server %d: relay to a hub of that version in site %s", mbx.Name, mbx.Version, me.Version, me.Site)
		if len(hubs) == 0 {
			r.why("no hub of version %d in site %s: the message waits until one exists", mbx.Version, me.Site)
		}
		r.NextHops = []NextHop{{Kind: HopRelay, Site: me.Site, Servers: names(hubs), Addresses: addrs(hubs)}}
	default:
		var hubs []*Server
		for _, h := range t.Hubs(mbx.Site) {
			if h.Version == mbx.Version {
				hubs = append(hubs, h)
			}
		}
		r.why("mailbox server %s is in site %s: relay towards a hub of that site of its version (%d)", mbx.Name, mbx.Site, mbx.Version)
		if len(hubs) == 0 {
			r.why("no hub of version %d in site %s: the message waits until one exists", mbx.Version, mbx.Site)
		}
		t.routeSite(r, me, mbx.Site, hubs, size)
	}
}

// routeSite routes towards servers of a destination site (RT-2 … RT-7).
func (t *Topology) routeSite(r *Route, me *Server, dest string, targets []*Server, size int64) {
	r.DestSite = dest
	path, ok := t.Path(me.Site, dest)
	if !ok {
		r.why("no path from site %s to site %s", me.Site, dest)
		return
	}
	r.Path = path
	for _, st := range path[1:] {
		if st.MaxSize > 0 && size > st.MaxSize {
			r.NDR = fmt.Sprintf("552 5.3.4 message of %d bytes exceeds the limit of %d bytes of site link %s on the least-cost path", size, st.MaxSize, st.Link)
			r.why("site link %s limits messages to %d bytes; no other path is tried (RT-7)", st.Link, st.MaxSize)
			return
		}
	}
	if r.explain {
		hops := "hops"
		if len(path)-1 == 1 {
			hops = "hop"
		}
		r.why("least-cost path %s, cost %d, %d %s", describePath(path), path[len(path)-1].Cost, len(path)-1, hops)
	}

	if dest == me.Site {
		r.why("the destination is in this site")
		r.NextHops = []NextHop{{Kind: HopRelay, Site: dest, Servers: names(targets), Addresses: addrs(targets)}}
		return
	}
	target := len(path) - 1
	for i := 1; i < len(path)-1; i++ {
		if !path[i].HubSite {
			continue
		}
		if len(t.Hubs(path[i].Site)) > 0 {
			target = i
			r.why("site %s on the path is a hub site: relay through it (RT-4)", path[i].Site)
			break
		}
		r.why("site %s on the path is marked a hub site but has no hub: not relayed through (RT-4)", path[i].Site)
	}
	if target == len(path)-1 {
		r.why("no hub site with a hub between site %s and site %s: relay directly to site %s (RT-3)", me.Site, dest, dest)
		r.NextHops = append(r.NextHops, NextHop{Kind: HopRelay, Site: dest, Servers: names(targets), Addresses: addrs(targets)})
	} else {
		hubs := t.Hubs(path[target].Site)
		r.NextHops = append(r.NextHops, NextHop{Kind: HopRelay, Site: path[target].Site, Servers: names(hubs), Addresses: addrs(hubs)})
	}
	for i := target - 1; i >= 1; i-- {
		if hubs := t.Hubs(path[i].Site); len(hubs) > 0 {
			r.NextHops = append(r.NextHops, NextHop{Kind: HopRelay, Site: path[i].Site, Servers: names(hubs), Addresses: addrs(hubs)})
		}
	}
	if len(r.NextHops) > 1 && r.explain {
		var sites []string
		for _, h := range r.NextHops[1:] {
			sites = append(sites, h.Site)
		}
		r.why("if %s does not answer, the message queues at the nearest reachable site back along the path: %s (RT-5)",
			r.NextHops[0].Site, strings.Join(sites, ", "))
	}
}

// candidate is a send connector in the running for a domain.
type candidate struct {
	c         *SendConnector
	spec      int
	match     string // the address space that matched
	asCost    int
	siteCost  int // cost to reach the nearest source server's site
	proximity int // 0 local server, 1 local site, 2 remote site
	legacy    bool
	srcSite   string
	srcs      []*Server
	// Legacy connectors: the chain of routing-group connectors to the
	// connector's routing group and the site cost to the bridgehead of
	// its first connector (the tie-break, RT-10).
	chain      rgChain
	bridgeCost int
}

func (c candidate) total() int { return c.asCost + c.siteCost }

// rank is the candidate's place in the one order (compareRanks).
func (c candidate) rank() rank {
	return rank{name: c.c.Name, spec: c.spec, legacy: c.legacy, cost: c.total(), bridge: c.bridgeCost, kind: c.proximity}
}

// routeConnector is RT-9 and RT-10.
func (t *Topology) routeConnector(r *Route, me *Server, domain string, size int64, edgeOnly bool) {
	var cands []candidate
	for i := range t.in.Connectors {
		c := &t.in.Connectors[i]
		spec, asCost, match := -1, 0, ""
		for _, a := range c.AddressSpaces {
			if s := specificity(mailaddr.AddrKey(a.Domain), domain); s > spec || s == spec && s >= 0 && a.Cost < asCost {
				spec, asCost, match = s, a.Cost, a.Domain
			}
		}
		if spec < 0 {
			continue
		}
		// RT-11: every connector whose address space matches and that
		// is not in the running says why.
		out := func(format string, args ...any) {
			if r.explain {
				r.why("%s is not in the running: %s", c.Name, fmt.Sprintf(format, args...))
			}
		}
		if !c.Enabled {
			out("disabled")
			continue
		}
		cand := candidate{c: c, spec: spec, match: match, asCost: asCost, siteCost: -1, proximity: 2}
		for _, name := range c.SourceServers {
			s := t.servers[name]
			cand.srcs = append(cand.srcs, s)
			if s.Role == RoleLegacy {
				// A legacy server is in no site: a connector scoped to
				// its site is out of scope from every site (RT-9, RT-12).
				if !c.SiteScoped {
					cand.legacy = true
				}
				continue
			}
			if c.SiteScoped && s.Site != me.Site {
				continue
			}
			cost := t.siteCost(me.Site, s.Site)
			prox := 2
			switch {
			case s.Name == me.Name:
				prox = 0
			case s.Site == me.Site:
				prox = 1
			}
			if cost >= 0 && (cand.siteCost < 0 || cost < cand.siteCost || cost == cand.siteCost && prox < cand.proximity) {
				cand.siteCost, cand.proximity, cand.srcSite = cost, prox, s.Site
			}
		}
		if c.SiteScoped && cand.siteCost < 0 {
			out("scope site, and no source server is in this server's site %s", me.Site)
			continue // scoped to a site this server is not in
		}
		if edgeOnly && cand.proximity != 0 {
			out("an edge sends only through connectors it is a source server of")
			continue
		}
		if cand.legacy {
			t.legacyCost(me, &cand)
		}
		if cand.siteCost < 0 {
			if cand.legacy {
				out("no chain of routing-group connectors reaches its routing group")
			} else {
				out("no source server is reachable from site %s", me.Site)
			}
			continue
		}
		cands = append(cands, cand)
	}
	if len(cands) == 0 {
		r.Destination = NoConnector
		r.why("no enabled send connector in reach has an address space matching %s", domain)
		return
	}
	sort.SliceStable(cands, func(i, j int) bool {
		c, _ := compareRanks(cands[i].rank(), cands[j].rank())
		return c < 0
	})
	win := cands[0]
	r.Destination = "send connector " + win.c.Name
	r.Connector = win.c.Name
	if r.explain {
		r.why("address space match for %s: %s", domain, describe(win))
		for _, o := range cands[1:] {
			r.why("%s lost: %s", o.c.Name, lostBecause(win, o))
		}
	}
	if win.c.MaxSize > 0 && size > win.c.MaxSize {
		r.NDR = fmt.Sprintf("552 5.3.4 message of %d bytes exceeds the limit of %d bytes of send connector %s", size, win.c.MaxSize, win.c.Name)
		return
	}
	if win.legacy {
		t.routeLegacy(r, me, win.chain.group, "", size)
		return
	}
	if win.proximity == 0 {
		r.why("this server is a source server of %s: deliver through it", win.c.Name)
		r.NextHops = []NextHop{{Kind: HopConnector, Site: me.Site, Connector: win.c.Name}}
		return
	}
	var targets []*Server
	for _, s := range win.srcs {
		if s.Site == win.srcSite {
			targets = append(targets, s)
		}
	}
	r.why("relay to a source server of %s in site %s", win.c.Name, win.srcSite)
	t.routeSite(r, me, win.srcSite, targets, size)
}

func describe(c candidate) string {
	if c.legacy {
		return fmt.Sprintf("legacy connector %s, address space %s, cost %d (address space %d + routing-group connectors %d)",
			c.c.Name, c.match, c.total(), c.asCost, c.siteCost)
	}
	return fmt.Sprintf("connector %s, address space %s, cost %d (address space %d + path to its source server %d), proximity: %s",
		c.c.Name, c.match, c.total(), c.asCost, c.siteCost, []string{"local server", "local site", "remote site"}[c.proximity])
}

func lostBecause(win, o candidate) string {
	_, by := compareRanks(win.rank(), o.rank())
	switch by {
	case bySpec:
		return "less specific address space " + o.match
	case byLegacy:
		return "legacy connector; a modern one wins"
	case byCost:
		return fmt.Sprintf("higher cost %d > %d", o.total(), win.total())
	case byBridge:
		return fmt.Sprintf("equal routing-group-connector cost; its bridgehead is farther (site cost %d > %d)", o.bridgeCost, win.bridgeCost)
	case byKind:
		return "farther from this server"
	}
	return "name sorts after " + win.c.Name
}

// siteCost is the least path cost between two sites, -1 if unreachable.
func (t *Topology) siteCost(from, to string) int {
	if from == to {
		return 0
	}
	p, ok := t.Path(from, to)
	if !ok {
		return -1
	}
	return p[len(p)-1].Cost
}

// legacyCost prices a legacy connector (RT-10): the least summed
// routing-group-connector cost from the modern group to the connector's
// routing group; the site cost to the first connector's bridgehead
// breaks ties only, so it is kept apart from the cost.
func (t *Topology) legacyCost(me *Server, c *candidate) {
	found := false
	for _, s := range c.srcs {
		if s.Role != RoleLegacy {
			continue
		}
		ch, ok := t.rgPath(me, s.RoutingGroup)
		if !ok {
			continue
		}
		if !found || ch.less(c.chain) {
			c.chain, found = ch, true
		}
	}
	if found {
		c.siteCost, c.bridgeCost, c.srcSite, c.proximity = c.chain.cost, c.chain.siteCost, c.chain.site, 2
	}
}

// rgChain is a least-cost chain of routing-group connectors from the
// modern group to a legacy routing group.
type rgChain struct {
	group    string
	conns    []*RoutingGroupConnector // first is the one leaving the modern group
	cost     int                      // summed connector cost
	siteCost int                      // site cost to the first connector's nearest bridgehead
	site     string                   // that bridgehead's site
}

// less orders chains: summed connector cost, then the site cost to the
// first connector's bridgehead (RT-10: "site-link cost to the first
// connector breaks ties only"), then the first connector's name.
func (a rgChain) less(b rgChain) bool {
	switch {
	case a.cost != b.cost:
		return a.cost < b.cost
	case a.siteCost != b.siteCost:
		return a.siteCost < b.siteCost
	}
	return a.conns[0].Name < b.conns[0].Name
}

// bridgehead returns the site cost from me to the nearest bridgehead of
// c and its site; ok is false when c has none in reach.
func (t *Topology) bridgehead(me *Server, c *RoutingGroupConnector) (cost int, site string, ok bool) {
	cost = -1
	for _, b := range c.SourceServers { // in name order
		bs := t.servers[b]
		if bs == nil || bs.Role == RoleLegacy {
			continue
		}
		if sc := t.siteCost(me.Site, bs.Site); sc >= 0 && (cost < 0 || sc < cost) {
			cost, site = sc, bs.Site
		}
	}
	return cost, site, cost >= 0
}

// rgPath finds the least-cost chain of routing-group connectors from the
// modern group to group. Costs are at least 1 (NewTopology), so a
// Dijkstra over the routing groups ends after one visit per group.
func (t *Topology) rgPath(me *Server, group string) (rgChain, bool) {
	best := map[string]rgChain{}
	done := map[string]bool{ModernGroup: true}
	for _, c := range t.rgcs { // first steps: connectors leaving the modern group
		c := c
		for k, g := range c.Groups {
			if g != ModernGroup {
				continue
			}
			sc, site, ok := t.bridgehead(me, &c)
			if !ok {
				continue
			}
			ch := rgChain{group: c.Groups[1-k], conns: []*RoutingGroupConnector{&c}, cost: c.Cost, siteCost: sc, site: site}
			if cur, seen := best[ch.group]; !seen || ch.less(cur) {
				best[ch.group] = ch
			}
		}
	}
	for len(done) <= len(t.rgGroups) {
		var next string
		for g, ch := range best { // the cheapest open group
			if !done[g] && (next == "" || ch.less(best[next]) || !best[next].less(ch) && g < next) {
				next = g
			}
		}
		if next == "" {
			break
		}
		done[next] = true
		if next == group {
			break
		}
		from := best[next]
		for i := range t.rgcs {
			c := &t.rgcs[i]
			for k, g := range c.Groups {
				to := c.Groups[1-k]
				if g != next || done[to] {
					continue
				}
				ch := rgChain{group: to, conns: append(append([]*RoutingGroupConnector(nil), from.conns...), c),
					cost: from.cost + c.Cost, siteCost: from.siteCost, site: from.site}
				if cur, seen := best[to]; !seen || ch.less(cur) {
					best[to] = ch
				}
			}
		}
	}
	ch, ok := best[group]
	return ch, ok && done[group]
}

// routeLegacy hands the recipient to a legacy routing group over the
// least-cost chain of routing-group connectors: from a bridgehead of the
// first connector, or by relaying to one. server, when set, is the
// legacy server the recipient's database is on.
func (t *Topology) routeLegacy(r *Route, me *Server, group, server string, size int64) {
	ch, ok := t.rgPath(me, group)
	if !ok {
		r.why("no chain of routing group connectors with a bridgehead in reach leads to routing group %s", group)
		return
	}
	var chain []string
	for _, c := range ch.conns {
		chain = append(chain, c.Name)
	}
	for _, c := range ch.conns { // RT-7 along the whole chain (RT-12)
		if c.MaxSize > 0 && size > c.MaxSize {
			r.NDR = fmt.Sprintf("552 5.3.4 message of %d bytes exceeds the limit of %d bytes of routing group connector %s", size, c.MaxSize, c.Name)
			r.why("routing group connector %s on the least-cost chain %s limits messages to %d bytes; no other path is tried (RT-7)",
				c.Name, strings.Join(chain, ", "), c.MaxSize)
			return
		}
	}
	rgc := ch.conns[0]
	r.why("legacy routing group %s is reached over routing group connectors %s (summed cost %d; site cost %d to the bridgehead in site %s)",
		group, strings.Join(chain, ", "), ch.cost, ch.siteCost, ch.site)
	if r.explain {
		t.explainLostChains(r, me, group, ch)
	}
	for _, b := range rgc.SourceServers {
		if b != me.Name {
			continue
		}
		other := rgc.Groups[0]
		if other == ModernGroup {
			other = rgc.Groups[1]
		}
		var legacy []*Server
		if s := t.servers[server]; s != nil && s.RoutingGroup == other {
			legacy = []*Server{s}
		} else {
			for _, s := range t.servers {
				if s.Role == RoleLegacy && s.RoutingGroup == other {
					legacy = append(legacy, s)
				}
			}
			sort.Slice(legacy, func(i, j int) bool { return legacy[i].Name < legacy[j].Name })
		}
		r.why("this server is a bridgehead of %s: hand to routing group %s", rgc.Name, other)
		r.NextHops = []NextHop{{Kind: HopLegacy, Servers: names(legacy), Addresses: addrs(legacy)}}
		return
	}
	var targets []*Server
	for _, b := range rgc.SourceServers {
		if s := t.servers[b]; s != nil && s.Site == ch.site {
			targets = append(targets, s)
		}
	}
	r.why("relay to a bridgehead of %s in site %s", rgc.Name, ch.site)
	t.routeSite(r, me, ch.site, targets, size)
}

func names(ss []*Server) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.Name
	}
	return out
}

func addrs(ss []*Server) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.Address
	}
	return out
}

// describePath renders a path for an explanation.
func describePath(path []PathStep) string {
	var b strings.Builder
	for i, st := range path {
		if i > 0 {
			fmt.Fprintf(&b, " -(%s)-> ", st.Link)
		}
		b.WriteString(st.Site)
	}
	return b.String()
}
