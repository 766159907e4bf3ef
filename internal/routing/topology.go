package routing

import (
	"container/heap"
	"context"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"umbra/internal/mailaddr"
)

// Server roles in a topology.
const (
	RoleHub     = "hub"
	RoleEdge    = "edge"
	RoleMailbox = "mailbox"
	RoleLegacy  = "legacy"
)

// Site is a well-connected network location.
type Site struct {
	Name    string
	Subnets []netip.Prefix
	HubSite bool
}

// SiteLink joins sites at a cost. Every pair of its sites is connected.
type SiteLink struct {
	Name  string
	Sites []string
	Cost  int
	// UmbraCost, when set (> 0), replaces Cost for umbra's routing.
	UmbraCost      int
	MaxMessageSize int64 // 0: no limit
}

func (l SiteLink) cost() int {
	if l.UmbraCost > 0 {
		return l.UmbraCost
	}
	return l.Cost
}

// Server is a transport or mailbox server of the organisation.
type Server struct {
	Name         string
	Role         string
	Site         string // empty: derived from Addresses by longest prefix
	Version      int
	Address      string // SMTP (or LMTP for mailbox servers) host:port
	RoutingGroup string // legacy servers only
	// Sources are the addresses its connections may come from besides
	// the host of Address (see ServerAt).
	Sources []netip.Prefix
}

// Database is a mailbox database on a mailbox server.
type Database struct {
	Name   string
	Server string
}

// RecipientMap maps an address ("a@x"), a domain ("x") or a subdomain
// pattern ("*.x") to a mailbox database; or an address to an expansion
// (distribution) group, with Members and an ExpansionSite instead of a
// Database.
type RecipientMap struct {
	Match    string
	Database string
	// Members of a group: addresses (mailboxes, other groups, or
	// addresses outside the organisation).
	Members []string
	// ExpansionSite is the site whose hubs expand the group.
	ExpansionSite string
}

// SendConnector is how mail leaves the organisation.
type SendConnector struct {
	Name          string
	AddressSpaces []AddressSpace
	SourceServers []string
	SiteScoped    bool // visible only in the site of its source servers
	SmartHosts    []string
	MaxSize       int64
	Enabled       bool
}

// RoutingGroupConnector joins two legacy routing groups (or a legacy group
// and "modern", the routing group every non-legacy server is in).
type RoutingGroupConnector struct {
	Name   string
	Groups [2]string
	// Cost is at least 1; 0 (not written) means DefaultRGCCost.
	Cost    int
	MaxSize int64
	// SourceServers are the bridgeheads on the modern side.
	SourceServers []string
}

// ModernGroup is the routing group name of every non-legacy server.
const ModernGroup = "modern"

// DefaultRGCCost is the cost of a routing-group connector written without
// one.
const DefaultRGCCost = 1

// Ranges of the numeric fields (NewTopology refuses values outside them).
const (
	MaxLinkCost    = 99999 // site link cost and umbra cost (Active Directory's range)
	MaxRGCCost     = 100   // routing-group connector cost
	MaxASCost      = 100   // address-space cost
	MaxVersion     = 1000
	maxMessageSize = 1 << 50
)

// TopologyInput is everything a topology file says.
type TopologyInput struct {
	Sites        []Site
	Links        []SiteLink
	Servers      []Server
	Databases    []Database
	Recipients   []RecipientMap
	Connectors   []SendConnector
	RGConnectors []RoutingGroupConnector
}

// Topology is an immutable, validated snapshot with its path tables
// cached per source site.
type Topology struct {
	in        TopologyInput
	siteIdx   map[string]int
	sites     []Site
	adj       [][]edge
	servers   map[string]*Server
	byKey     map[string]*Server   // by mailaddr.NameKey of the name: another spelling (server)
	bySite    map[string][]*Server // hubs per site, by name
	databases map[string]*Database
	rcptExact map[string]string        // lower-cased address or domain → database
	rcptWild  []RecipientMap           // ".domain" suffixes, longest first
	groups    map[string]*RecipientMap // lower-cased group address → group
	rgcs      []RoutingGroupConnector  // costs defaulted
	rgGroups  map[string]bool          // routing groups that exist
	dbsrc     DatabaseSource           // asked before the recipient map (assign.go)
	hostAddrs map[string][]netip.Addr  // host names of Address, resolved at load (hostaddrs.go)

	mu    sync.Mutex
	paths map[int]*pathTable // per source site, computed once
}

type edge struct {
	to      int
	cost    int
	link    string
	maxSize int64
}

// NewTopology validates and indexes a topology. Site membership of
// servers without a site is derived from their addresses. It is total:
// every numeric field is ranged and every reference resolved here, so
// that routing any recipient of a topology it accepts terminates with a
// route, an NDR or a documented wait, and never panics (FuzzRoute).
func NewTopology(in TopologyInput) (*Topology, error) {
	t := &Topology{in: in, siteIdx: map[string]int{}, servers: map[string]*Server{}, byKey: map[string]*Server{}, bySite: map[string][]*Server{},
		databases: map[string]*Database{}, paths: map[int]*pathTable{}, rcptExact: map[string]string{},
		groups: map[string]*RecipientMap{}, rgGroups: map[string]bool{ModernGroup: true}}
	for _, s := range in.Sites {
		if s.Name == "" {
			return nil, fmt.Errorf("a site has no name")
		}
		if _, dup := t.siteIdx[s.Name]; dup {
			return nil, fmt.Errorf("site %q is defined twice", s.Name)
		}
		t.siteIdx[s.Name] = len(t.sites)
		t.sites = append(t.sites, s)
	}
	t.adj = make([][]edge, len(t.sites))
	for _, l := range in.Links {
		if len(l.Sites) < 2 {
			return nil, fmt.Errorf("site link %q joins fewer than two sites", l.Name)
		}
		if l.Cost < 1 || l.Cost > MaxLinkCost || l.UmbraCost < 0 || l.UmbraCost > MaxLinkCost {
			return nil, fmt.Errorf("site link %q: cost must be 1 to %d (umbra cost, when set, too)", l.Name, MaxLinkCost)
		}
		if l.MaxMessageSize < 0 || l.MaxMessageSize > maxMessageSize {
			return nil, fmt.Errorf("site link %q: max message size out of range", l.Name)
		}
		for _, a := range l.Sites {
			if _, ok := t.siteIdx[a]; !ok {
				return nil, fmt.Errorf("site link %q names unknown site %q", l.Name, a)
			}
		}
		for i, a := range l.Sites {
			for _, b := range l.Sites[i+1:] {
				ia, ib := t.siteIdx[a], t.siteIdx[b]
				if ia == ib {
					continue
				}
				t.adj[ia] = append(t.adj[ia], edge{ib, l.cost(), l.Name, l.MaxMessageSize})
				t.adj[ib] = append(t.adj[ib], edge{ia, l.cost(), l.Name, l.MaxMessageSize})
			}
		}
	}
	for i := range in.Servers {
		s := in.Servers[i]
		if s.Name == "" {
			return nil, fmt.Errorf("a server has no name")
		}
		if _, dup := t.servers[s.Name]; dup {
			return nil, fmt.Errorf("server %q is defined twice", s.Name)
		}
		switch s.Role {
		case RoleHub, RoleEdge, RoleMailbox:
		case RoleLegacy:
			if s.RoutingGroup == "" || s.RoutingGroup == ModernGroup {
				return nil, fmt.Errorf("legacy server %q needs a routing group other than %s", s.Name, ModernGroup)
			}
			t.rgGroups[s.RoutingGroup] = true
		default:
			return nil, fmt.Errorf("server %q has unknown role %q", s.Name, s.Role)
		}
		if s.Version < 0 || s.Version > MaxVersion {
			return nil, fmt.Errorf("server %q: version must be 0 to %d", s.Name, MaxVersion)
		}
		if s.Site == "" && s.Role != RoleLegacy {
			site, err := t.SiteOf(s.Address)
			if err != nil {
				return nil, fmt.Errorf("server %q: %w", s.Name, err)
			}
			s.Site = site
		}
		if s.Site != "" {
			if _, ok := t.siteIdx[s.Site]; !ok {
				return nil, fmt.Errorf("server %q is in unknown site %q", s.Name, s.Site)
			}
		}
		if s.Version == 0 {
			s.Version = 1
		}
		t.servers[s.Name] = &s
		if _, dup := t.byKey[mailaddr.NameKey(s.Name)]; !dup {
			t.byKey[mailaddr.NameKey(s.Name)] = &s
		}
		if s.Role == RoleHub {
			t.bySite[s.Site] = append(t.bySite[s.Site], &s)
		}
	}
	for _, hubs := range t.bySite {
		sort.Slice(hubs, func(i, j int) bool { return hubs[i].Name < hubs[j].Name })
	}
	for i := range in.Databases {
		d := in.Databases[i]
		if srv := t.servers[d.Server]; srv == nil || srv.Role != RoleMailbox && srv.Role != RoleLegacy {
			return nil, fmt.Errorf("database %q is on %q, which is not a mailbox or legacy server of the topology", d.Name, d.Server)
		}
		if _, dup := t.databases[d.Name]; dup {
			return nil, fmt.Errorf("database %q is defined twice", d.Name)
		}
		t.databases[d.Name] = &d
	}
	for i := range in.Recipients {
		r := in.Recipients[i]
		m := mailaddr.AddrKey(r.Match)
		if r.Members != nil || r.ExpansionSite != "" {
			if err := t.addGroup(&r); err != nil {
				return nil, err
			}
			continue
		}
		if t.databases[r.Database] == nil {
			return nil, fmt.Errorf("recipients %q map to unknown database %q", r.Match, r.Database)
		}
		if strings.HasPrefix(m, "*.") {
			t.rcptWild = append(t.rcptWild, RecipientMap{Match: m[1:], Database: r.Database})
		} else if _, dup := t.rcptExact[m]; dup {
			return nil, fmt.Errorf("recipients %q are mapped twice", r.Match)
		} else {
			t.rcptExact[m] = r.Database
		}
	}
	for m := range t.groups {
		if _, dup := t.rcptExact[m]; dup {
			return nil, fmt.Errorf("recipients %q are mapped twice (a group and a mailbox)", m)
		}
	}
	if cycle := t.groupCycle(); cycle != "" {
		return nil, fmt.Errorf("expansion groups contain each other: %s", cycle)
	}
	sort.SliceStable(t.rcptWild, func(i, j int) bool { return len(t.rcptWild[i].Match) > len(t.rcptWild[j].Match) })
	for _, c := range in.Connectors {
		for _, s := range c.SourceServers {
			if t.servers[s] == nil {
				return nil, fmt.Errorf("send connector %q names unknown source server %q", c.Name, s)
			}
		}
		for _, a := range c.AddressSpaces {
			if a.Cost < 0 || a.Cost > MaxASCost {
				return nil, fmt.Errorf("send connector %q: address space cost must be 0 to %d", c.Name, MaxASCost)
			}
		}
		if c.MaxSize < 0 || c.MaxSize > maxMessageSize {
			return nil, fmt.Errorf("send connector %q: max message size out of range", c.Name)
		}
	}
	if err := t.indexRGCs(); err != nil {
		return nil, err
	}
	if len(t.sites) > 0 {
		if unreachable := t.unreachableFrom(0); len(unreachable) > 0 {
			return nil, fmt.Errorf("the site graph is disconnected: %s cannot be reached from %s",
				strings.Join(unreachable, ", "), t.sites[0].Name)
		}
	}
	return t, nil
}

// indexRGCs checks the routing-group connectors (RT-10): known groups,
// costs in range (0 means DefaultRGCCost), a hub bridgehead on the modern
// side, and every legacy routing group reachable from the modern group.
func (t *Topology) indexRGCs() error {
	for _, c := range t.in.RGConnectors {
		if c.Cost < 0 || c.Cost > MaxRGCCost {
			return fmt.Errorf("routing group connector %q: cost must be 1 to %d (0: %d)", c.Name, MaxRGCCost, DefaultRGCCost)
		}
		if c.Cost == 0 {
			c.Cost = DefaultRGCCost
		}
		if c.MaxSize < 0 || c.MaxSize > maxMessageSize {
			return fmt.Errorf("routing group connector %q: max message size out of range", c.Name)
		}
		if c.Groups[0] == c.Groups[1] {
			return fmt.Errorf("routing group connector %q joins routing group %q to itself", c.Name, c.Groups[0])
		}
		for _, g := range c.Groups {
			if !t.rgGroups[g] {
				return fmt.Errorf("routing group connector %q names unknown routing group %q", c.Name, g)
			}
		}
		bridgeheads := 0
		for _, b := range c.SourceServers {
			s := t.servers[b]
			if s == nil || s.Role != RoleHub {
				return fmt.Errorf("routing group connector %q: source server %q is not a hub of the topology", c.Name, b)
			}
			bridgeheads++
		}
		if (c.Groups[0] == ModernGroup || c.Groups[1] == ModernGroup) && bridgeheads == 0 {
			return fmt.Errorf("routing group connector %q joins the modern group but names no bridgehead (source_servers)", c.Name)
		}
		c.SourceServers = append([]string(nil), c.SourceServers...)
		sort.Strings(c.SourceServers)
		t.rgcs = append(t.rgcs, c)
	}
	sort.SliceStable(t.rgcs, func(i, j int) bool { return t.rgcs[i].Name < t.rgcs[j].Name })
	hasModern := false
	for _, s := range t.servers {
		hasModern = hasModern || s.Role != RoleLegacy
	}
	if !hasModern {
		return nil
	}
	reach := t.rgReachable()
	var lost []string
	for g := range t.rgGroups {
		if !reach[g] {
			lost = append(lost, g)
		}
	}
	if len(lost) > 0 {
		sort.Strings(lost)
		return fmt.Errorf("routing group %s cannot be reached from the modern group over routing group connectors", strings.Join(lost, ", "))
	}
	return nil
}

// rgReachable is the set of routing groups joined to the modern group.
func (t *Topology) rgReachable() map[string]bool {
	reach := map[string]bool{ModernGroup: true}
	for changed := true; changed; { // at most one pass per group
		changed = false
		for _, c := range t.rgcs {
			if reach[c.Groups[0]] != reach[c.Groups[1]] {
				reach[c.Groups[0]], reach[c.Groups[1]] = true, true
				changed = true
			}
		}
	}
	return reach
}

// addGroup indexes an expansion group: an address with members, expanded
// by a hub of its expansion site.
func (t *Topology) addGroup(r *RecipientMap) error {
	m := mailaddr.AddrKey(r.Match)
	if !strings.Contains(m, "@") {
		return fmt.Errorf("group %q: a group is an address", r.Match)
	}
	if r.Database != "" {
		return fmt.Errorf("group %q: a group has members, not a database", r.Match)
	}
	if len(r.Members) == 0 {
		return fmt.Errorf("group %q has no members", r.Match)
	}
	if _, ok := t.siteIdx[r.ExpansionSite]; !ok {
		return fmt.Errorf("group %q: expansion site %q is not a site of the topology", r.Match, r.ExpansionSite)
	}
	if len(t.bySite[r.ExpansionSite]) == 0 {
		return fmt.Errorf("group %q: expansion site %q has no hub to expand it", r.Match, r.ExpansionSite)
	}
	for _, a := range r.Members {
		if at := strings.LastIndexByte(a, '@'); at <= 0 || at == len(a)-1 {
			return fmt.Errorf("group %q: member %q is not an address", r.Match, a)
		}
	}
	if _, dup := t.groups[m]; dup {
		return fmt.Errorf("recipients %q are mapped twice", r.Match)
	}
	g := *r
	g.Members = append([]string(nil), r.Members...)
	t.groups[m] = &g
	return nil
}

// groupCycle names a chain of groups that contains itself, or "".
func (t *Topology) groupCycle() string {
	state := map[string]int{} // 1 on the stack, 2 done
	var names []string
	for m := range t.groups {
		names = append(names, m)
	}
	sort.Strings(names)
	var stack []string
	var visit func(string) bool
	visit = func(g string) bool {
		state[g] = 1
		stack = append(stack, g)
		for _, m := range t.groups[g].Members {
			m = mailaddr.AddrKey(m)
			if t.groups[m] == nil {
				continue
			}
			if state[m] == 1 {
				stack = append(stack, m)
				return true
			}
			if state[m] == 0 && visit(m) {
				return true
			}
		}
		stack = stack[:len(stack)-1]
		state[g] = 2
		return false
	}
	for _, g := range names {
		if state[g] == 0 && visit(g) {
			return strings.Join(stack, " -> ")
		}
	}
	return ""
}

// SiteOf derives a site from an address (host:port or host) by the
// longest matching subnet (RT-1).
func (t *Topology) SiteOf(address string) (string, error) {
	// host:port, [v6]:port, or a bare host (an IPv6 one has colons of
	// its own, so only a failed parse of the whole says a port follows).
	host := strings.Trim(address, "[]")
	if _, err := netip.ParseAddr(host); err != nil {
		if h, _, err := net.SplitHostPort(address); err == nil {
			host = h
		}
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return "", fmt.Errorf("no site given and %q is not an IP address", address)
	}
	// An IPv4-mapped address is the IPv4 it maps: subnets are loaded
	// unmapped (config.ParseSubnet), one rule for every spelling.
	ip = ip.Unmap()
	best, bits := "", -1
	for _, s := range t.sites {
		for _, p := range s.Subnets {
			if p.Contains(ip) && p.Bits() > bits {
				best, bits = s.Name, p.Bits()
			}
		}
	}
	if best == "" {
		return "", fmt.Errorf("no site has a subnet containing %s", ip)
	}
	return best, nil
}

// Server returns a server by name.
func (t *Topology) Server(name string) (*Server, bool) {
	s := t.server(name)
	return s, s != nil
}

// server is the server named name: as written, or, for another
// spelling of a server's name (letter case, a final dot: a host name's
// spelling), by its key, mailaddr.NameKey (rt51 F9). The configuration
// refuses two servers whose names differ only so.
func (t *Topology) server(name string) *Server {
	if s, ok := t.servers[name]; ok {
		return s
	}
	return t.byKey[mailaddr.NameKey(name)]
}

func (t *Topology) unreachableFrom(src int) []string {
	pt := t.pathsFrom(src)
	var out []string
	for i, s := range t.sites {
		if pt.dist[i] < 0 {
			out = append(out, s.Name)
		}
	}
	return out
}

// pathTable holds the least-cost paths from one site.
type pathTable struct {
	dist []int // -1: unreachable
	hops []int
	prev []int // predecessor site on the best path
	via  []edge
}

// pathsFrom runs Dijkstra once per source site and caches the result.
// Ties on cost go to fewer hops, then to the predecessor site whose name
// sorts first (RT-2).
func (t *Topology) pathsFrom(src int) *pathTable {
	t.mu.Lock()
	defer t.mu.Unlock()
	if pt := t.paths[src]; pt != nil {
		return pt
	}
	n := len(t.sites)
	pt := &pathTable{dist: make([]int, n), hops: make([]int, n), prev: make([]int, n), via: make([]edge, n)}
	for i := range pt.dist {
		pt.dist[i], pt.prev[i] = -1, -1
	}
	pt.dist[src] = 0
	done := make([]bool, n)
	h := &nodeHeap{{site: src}}
	for h.Len() > 0 {
		cur := heap.Pop(h).(node)
		if done[cur.site] {
			continue
		}
		done[cur.site] = true
		for _, e := range t.adj[cur.site] {
			if done[e.to] {
				continue
			}
			nd, nh := pt.dist[cur.site]+e.cost, pt.hops[cur.site]+1
			better := pt.dist[e.to] < 0 || nd < pt.dist[e.to] ||
				nd == pt.dist[e.to] && (nh < pt.hops[e.to] ||
					nh == pt.hops[e.to] && t.sites[cur.site].Name < t.sites[pt.prev[e.to]].Name)
			if better {
				pt.dist[e.to], pt.hops[e.to], pt.prev[e.to], pt.via[e.to] = nd, nh, cur.site, e
				heap.Push(h, node{site: e.to, dist: nd, hops: nh})
			}
		}
	}
	t.paths[src] = pt
	return pt
}

type node struct{ site, dist, hops int }

type nodeHeap []node

func (h nodeHeap) Len() int { return len(h) }
func (h nodeHeap) Less(i, j int) bool {
	if h[i].dist != h[j].dist {
		return h[i].dist < h[j].dist
	}
	return h[i].hops < h[j].hops
}
func (h nodeHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *nodeHeap) Push(x any)   { *h = append(*h, x.(node)) }
func (h *nodeHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// PathStep is one site on a path with the link that led to it.
type PathStep struct {
	Site    string `json:"site"`
	Link    string `json:"link,omitempty"`
	Cost    int    `json:"cost"` // summed cost from the source
	MaxSize int64  `json:"max_message_size,omitempty"`
	HubSite bool   `json:"hub_site,omitempty"`
}

// Path returns the least-cost path from one site to another, source
// first, or false when there is none.
func (t *Topology) Path(from, to string) ([]PathStep, bool) {
	src, ok1 := t.siteIdx[from]
	dst, ok2 := t.siteIdx[to]
	if !ok1 || !ok2 {
		return nil, false
	}
	pt := t.pathsFrom(src)
	if pt.dist[dst] < 0 {
		return nil, false
	}
	var rev []PathStep
	for s := dst; s != -1; s = pt.prev[s] {
		step := PathStep{Site: t.sites[s].Name, Cost: pt.dist[s], HubSite: t.sites[s].HubSite}
		if s != src {
			step.Link, step.MaxSize = pt.via[s].link, pt.via[s].maxSize
		}
		rev = append(rev, step)
	}
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	return rev, true
}

// Hubs returns the hub servers of a site, by name.
func (t *Topology) Hubs(site string) []*Server { return t.bySite[site] }

// HasMailbox reports whether the topology maps rcpt to a mailbox database.
func (t *Topology) HasMailbox(rcpt string) bool {
	domain := mailaddr.AddrKey(rcpt[strings.LastIndexByte(rcpt, '@')+1:])
	if db, tempfail, _ := t.assigned(context.Background(), rcpt, false); db != nil || tempfail != "" {
		return true
	}
	return t.database(rcpt, domain) != nil || t.groups[mailaddr.AddrKey(rcpt)] != nil
}

// Connector returns an organisation send connector by name.
func (t *Topology) Connector(name string) (SendConnector, bool) {
	for _, c := range t.in.Connectors {
		if c.Name == name {
			return c, true
		}
	}
	return SendConnector{}, false
}

// ConnectorNames are the names of the topology's send connectors.
func (t *Topology) ConnectorNames() []string {
	names := make([]string, 0, len(t.in.Connectors))
	for _, c := range t.in.Connectors {
		names = append(names, c.Name)
	}
	return names
}

// IsServerAddress reports whether connections from ip may come from
// some server of the topology (as ServerAt decides it for that server).
func (t *Topology) IsServerAddress(ip netip.Addr) bool {
	for n := range t.servers {
		if _, at := t.ServerAt(n, ip); at {
			return true
		}
	}
	return false
}

// ServerAtHostPort is ServerAt for an address written "host:port" (the
// queue keeps the addresses its copies went to as text): ok only when
// host is an IP address of name's. "" (or text that is no IP address)
// asks only whether name is a server of the topology.
func (t *Topology) ServerAtHostPort(name, hostport string) (known, ok bool) {
	var ip netip.Addr
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		ip, _ = netip.ParseAddr(host)
	}
	return t.ServerAt(name, ip)
}

// ServerAt reports whether name is a server of the topology (known) and
// whether a connection from ip may speak for it (ok): ip is the host of
// its Address (an IP address, or one a host name there resolved to at
// load: SetHostAddresses) or within one of its Sources. A host name is
// never resolved here: one that did not resolve at load counts for no
// address, and such a server is known by its Sources.
func (t *Topology) ServerAt(name string, ip netip.Addr) (known, ok bool) {
	s := t.server(name)
	if s == nil {
		return false, false
	}
	ip = ip.Unmap()
	if t.atHost(s.Address, ip) {
		return true, true
	}
	for _, p := range s.Sources {
		if p.Contains(ip) {
			return true, true
		}
	}
	return true, false
}
