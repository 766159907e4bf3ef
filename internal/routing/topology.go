package routing

import (
	"container/heap"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strings"
	"sync"
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
// pattern ("*.x") to a mailbox database.
type RecipientMap struct {
	Match    string
	Database string
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
	Name    string
	Groups  [2]string
	Cost    int
	MaxSize int64
	// SourceServers are the bridgeheads on the modern side.
	SourceServers []string
}

// ModernGroup is the routing group name of every non-legacy server.
const ModernGroup = "modern"

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
	bySite    map[string][]*Server // hubs per site, by name
	databases map[string]*Database
	rcptExact map[string]string // lower-cased address or domain → database
	rcptWild  []RecipientMap    // ".domain" suffixes, longest first

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
// servers without a site is derived from their addresses.
func NewTopology(in TopologyInput) (*Topology, error) {
	t := &Topology{in: in, siteIdx: map[string]int{}, servers: map[string]*Server{}, bySite: map[string][]*Server{},
		databases: map[string]*Database{}, paths: map[int]*pathTable{}, rcptExact: map[string]string{}}
	for _, s := range in.Sites {
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
		for _, a := range l.Sites {
			if _, ok := t.siteIdx[a]; !ok {
				return nil, fmt.Errorf("site link %q names unknown site %q", l.Name, a)
			}
		}
		for i, a := range l.Sites {
			for _, b := range l.Sites[i+1:] {
				ia, ib := t.siteIdx[a], t.siteIdx[b]
				t.adj[ia] = append(t.adj[ia], edge{ib, l.cost(), l.Name, l.MaxMessageSize})
				t.adj[ib] = append(t.adj[ib], edge{ia, l.cost(), l.Name, l.MaxMessageSize})
			}
		}
	}
	for i := range in.Servers {
		s := in.Servers[i]
		if _, dup := t.servers[s.Name]; dup {
			return nil, fmt.Errorf("server %q is defined twice", s.Name)
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
		if s.Role == RoleHub {
			t.bySite[s.Site] = append(t.bySite[s.Site], &s)
		}
	}
	for _, hubs := range t.bySite {
		sort.Slice(hubs, func(i, j int) bool { return hubs[i].Name < hubs[j].Name })
	}
	for i := range in.Databases {
		d := in.Databases[i]
		if srv := t.servers[d.Server]; srv == nil || srv.Role != RoleMailbox {
			return nil, fmt.Errorf("database %q is on %q, which is not a mailbox server of the topology", d.Name, d.Server)
		}
		t.databases[d.Name] = &d
	}
	for _, r := range in.Recipients {
		if t.databases[r.Database] == nil {
			return nil, fmt.Errorf("recipients %q map to unknown database %q", r.Match, r.Database)
		}
		m := strings.ToLower(r.Match)
		if strings.HasPrefix(m, "*.") {
			t.rcptWild = append(t.rcptWild, RecipientMap{Match: m[1:], Database: r.Database})
		} else if _, dup := t.rcptExact[m]; dup {
			return nil, fmt.Errorf("recipients %q are mapped twice", r.Match)
		} else {
			t.rcptExact[m] = r.Database
		}
	}
	sort.SliceStable(t.rcptWild, func(i, j int) bool { return len(t.rcptWild[i].Match) > len(t.rcptWild[j].Match) })
	for _, c := range in.Connectors {
		for _, s := range c.SourceServers {
			if t.servers[s] == nil {
				return nil, fmt.Errorf("send connector %q names unknown source server %q", c.Name, s)
			}
		}
	}
	if len(t.sites) > 0 {
		if unreachable := t.unreachableFrom(0); len(unreachable) > 0 {
			return nil, fmt.Errorf("the site graph is disconnected: %s cannot be reached from %s",
				strings.Join(unreachable, ", "), t.sites[0].Name)
		}
	}
	return t, nil
}

// SiteOf derives a site from an address (host:port or host) by the
// longest matching subnet (RT-1).
func (t *Topology) SiteOf(address string) (string, error) {
	host := address
	if i := strings.LastIndexByte(address, ':'); i > 0 && !strings.HasSuffix(address, "]") {
		host = address[:i]
	}
	ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
	if err != nil {
		return "", fmt.Errorf("no site given and %q is not an IP address", address)
	}
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
	s, ok := t.servers[name]
	return s, ok
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
	domain := strings.ToLower(rcpt[strings.LastIndexByte(rcpt, '@')+1:])
	return t.database(rcpt, domain) != nil
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

// ServerAt reports whether name is a server of the topology (known) and
// whether a connection from ip may speak for it (ok): ip is the host of
// its Address (when that is an IP address) or within one of its Sources.
// A host name in Address is never resolved here: such a server lists
// its addresses in Sources.
func (t *Topology) ServerAt(name string, ip netip.Addr) (known, ok bool) {
	s, found := t.servers[name]
	if !found {
		return false, false
	}
	ip = ip.Unmap()
	if host, _, err := net.SplitHostPort(s.Address); err == nil {
		if a, err := netip.ParseAddr(host); err == nil && a.Unmap() == ip {
			return true, true
		}
	}
	for _, p := range s.Sources {
		if p.Contains(ip) {
			return true, true
		}
	}
	return true, false
}
