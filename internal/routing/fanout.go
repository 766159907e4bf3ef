package routing

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
)

// Copy is one copy of a message leaving a server: the recipients that
// travel together to the same next hops (RT-6).
type Copy struct {
	Recipients []string  `json:"recipients"`
	NextHops   []NextHop `json:"next_hops,omitempty"`
	// ForkSite is where the recipients' paths part: the copy is split
	// there (by a hub of that site). Empty when the copy is not split
	// again (one destination, or it forks beyond the organisation).
	ForkSite string `json:"fork_site,omitempty"`
	// Delayed is set when the copy goes to the fork site's hubs instead
	// of straight to the recipients' destinations (delayed fan-out).
	Delayed bool `json:"delayed_fan_out,omitempty"`
}

// FanOut applies delayed fan-out (RT-6, RT-12) to the routes of one
// message's recipients at the server named local, and returns the
// copies the message leaves as. Recipients whose least-cost paths
// leave this site over the same first link travel as one copy as far as
// their paths go together: when they part at a site before their
// destinations, the copy is relayed to the hubs of that fork site (the
// sites before it remain the queue-at-point-of-failure fallbacks), and
// the hub there splits it. routes is changed in place: a delayed route's
// NextHops name the fork site, so GroupKey groups it with the others.
//
// A fork site without hubs cannot split a copy: the copy goes to the
// last site with hubs before it on the shared path, or, if there is none
// but this one, the recipients leave as separate copies from here.
// Paths from one site form a tree (one predecessor per site), so the
// site where several paths part is well defined.
func (t *Topology) FanOut(local string, routes []Route) []Copy {
	return t.FanOutAround(local, routes, nil)
}

// FanOutAround is FanOut for delivery, which knows which servers answer:
// down reports a next hop none of whose servers answers now. A fork
// site whose hubs are down does not carry the copy (rt56 F1): the
// recipients that would share it leave as the copies of their own
// routes, each with its own fallbacks, so that one whose destination
// answers is not held for a hop that does not (the shared path forks
// again once the hop answers). nil (route explain, offline): every hop
// answers.
func (t *Topology) FanOutAround(local string, routes []Route, down func(NextHop) bool) []Copy {
	me := t.server(local)
	if me != nil {
		t.delayFanOut(me, routes, down)
	}
	var copies []Copy
	at := map[string]int{}
	var members [][]int
	for i := range routes {
		k := routes[i].GroupKey()
		if k == "" {
			continue
		}
		j, ok := at[k]
		if !ok {
			j = len(copies)
			at[k] = j
			copies = append(copies, Copy{NextHops: routes[i].NextHops})
			members = append(members, nil)
		}
		copies[j].Recipients = append(copies[j].Recipients, routes[i].Recipient)
		members[j] = append(members[j], i)
	}
	for j := range copies {
		var paths [][]PathStep
		for _, i := range members[j] {
			paths = append(paths, routes[i].Path)
			copies[j].Delayed = copies[j].Delayed || routes[i].delayed
		}
		copies[j].ForkSite = forkOf(paths)
	}
	return copies
}

// forkOf is the last site all paths share when they do not all end at
// the same site, else "".
func forkOf(paths [][]PathStep) string {
	if len(paths) < 2 {
		return ""
	}
	same := true
	for _, p := range paths[1:] {
		same = same && len(p) > 0 && len(paths[0]) > 0 && p[len(p)-1].Site == paths[0][len(paths[0])-1].Site
	}
	if same {
		return ""
	}
	fork := ""
	for n := 0; ; n++ {
		for _, p := range paths {
			if n >= len(p) || p[n].Site != paths[0][n].Site {
				return fork
			}
		}
		fork = paths[0][n].Site
	}
}

// target is the index on r.Path of the site r's first next hop relays
// to, or -1 when r does not relay across sites.
func target(me *Server, r *Route) int {
	if r.NDR != "" || len(r.NextHops) == 0 || r.NextHops[0].Kind != HopRelay || len(r.Path) < 2 || r.Path[0].Site != me.Site {
		return -1
	}
	for i := 1; i < len(r.Path); i++ {
		if r.Path[i].Site == r.NextHops[0].Site {
			return i
		}
	}
	return -1
}

func (t *Topology) delayFanOut(me *Server, routes []Route, down func(NextHop) bool) {
	byFirst := map[string][]int{} // first site after this one → routes
	var firsts []string
	for i := range routes {
		if target(me, &routes[i]) < 1 {
			continue
		}
		f := routes[i].Path[1].Site
		if byFirst[f] == nil {
			firsts = append(firsts, f)
		}
		byFirst[f] = append(byFirst[f], i)
	}
	sort.Strings(firsts)
	for _, f := range firsts {
		idx := byFirst[f]
		if len(idx) < 2 {
			continue
		}
		// The shared prefix up to each route's relay target.
		common := routes[idx[0]].Path[:target(me, &routes[idx[0]])+1]
		sameTarget := true
		for _, i := range idx[1:] {
			p := routes[i].Path[:target(me, &routes[i])+1]
			sameTarget = sameTarget && len(p) == len(common) && p[len(p)-1].Site == common[len(common)-1].Site
			n := 0
			for n < len(p) && n < len(common) && p[n].Site == common[n].Site {
				n++
			}
			common = common[:n]
		}
		if sameTarget {
			continue // one next hop already; they part (if at all) beyond it
		}
		fork := len(common) - 1
		for fork >= 1 && len(t.Hubs(common[fork].Site)) == 0 {
			fork--
		}
		if fork < 1 {
			// No hub to split the copy before the paths part: split here.
			for _, i := range idx {
				routes[i].why("the paths part at site %s, and no site with a hub lies before it on the shared path: the copies split here (RT-6)",
					common[len(common)-1].Site)
			}
			continue
		}
		site := common[fork].Site
		hubs := t.Hubs(site)
		hops := []NextHop{{Kind: HopRelay, Site: site, Servers: names(hubs), Addresses: addrs(hubs)}}
		for k := fork - 1; k >= 1; k-- {
			if h := t.Hubs(common[k].Site); len(h) > 0 {
				hops = append(hops, NextHop{Kind: HopRelay, Site: common[k].Site, Servers: names(h), Addresses: addrs(h)})
			}
		}
		var rcpts []string
		for _, i := range idx {
			rcpts = append(rcpts, routes[i].Recipient)
		}
		if down != nil && down(hops[0]) {
			for _, i := range idx {
				routes[i].why("delayed fan-out: %s share the path to site %s, but no hub of %s answers now: the copies split here, each to its own next hops (rt56 F1)",
					strings.Join(rcpts, ", "), site, site)
			}
			continue
		}
		for _, i := range idx {
			r := &routes[i]
			if keyOf(r.NextHops) == keyOf(hops) {
				continue
			}
			r.NextHops = append([]NextHop(nil), hops...)
			r.delayed = true
			if parts := common[len(common)-1].Site; parts != site {
				r.why("delayed fan-out: %s share the path to site %s, where their paths part; %s has no hub, so one copy goes to a hub of %s, the last site with hubs before it, which splits it (RT-6)",
					strings.Join(rcpts, ", "), parts, parts, site)
			} else {
				r.why("delayed fan-out: %s share the path to site %s, where their paths part: one copy to a hub of %s, which splits it (RT-6)",
					strings.Join(rcpts, ", "), site, site)
			}
		}
	}
}

func keyOf(hops []NextHop) string {
	var k []string
	for _, h := range hops {
		k = append(k, h.Key())
	}
	return strings.Join(k, "|")
}

// AvoidOrigin keeps a route from sending a message back to the server
// of the organisation it came from (origin), unless the path requires
// it: origin is removed from a next hop that has other servers, and a
// fallback next hop that is only origin is dropped; a first next hop
// that is only origin stays (the path leads there).
func (t *Topology) AvoidOrigin(r *Route, origin string) {
	srv := t.server(origin) // a peer may write the name in another spelling
	if origin == "" || srv == nil || len(r.NextHops) == 0 {
		return
	}
	origin = srv.Name
	var out []NextHop
	for i, h := range r.NextHops {
		pos := -1
		for j, s := range h.Servers {
			if s == origin {
				pos = j
			}
		}
		switch {
		case pos < 0:
		case len(h.Servers) > 1:
			h.Servers = append(append([]string(nil), h.Servers[:pos]...), h.Servers[pos+1:]...)
			if len(h.Addresses) == len(r.NextHops[i].Servers) {
				h.Addresses = append(append([]string(nil), h.Addresses[:pos]...), h.Addresses[pos+1:]...)
			}
			r.why("%s is where the message came from: not sent back to it while %s has other servers", origin, describeHopSite(h))
		case i == 0:
			r.why("%s is where the message came from, and the path leads back to it: it is the only server of the next hop; "+
				"it goes back unless the message was at this server before: then the topologies of this server and %s disagree "+
				"(in one topology a least-cost path never returns; or a redirect points back) and it waits here 451 4.4.6 until this server's route changes or it expires", origin, origin)
		default:
			r.why("%s is where the message came from: it is not a fallback", origin)
			continue
		}
		out = append(out, h)
	}
	r.NextHops = out
}

func describeHopSite(h NextHop) string {
	if h.Site != "" {
		return "site " + h.Site
	}
	return "the next hop"
}

// ServerFrom names the server of the organisation a connection from ip
// speaks for: the one whose Address host is ip (or resolved to it at
// load: SetHostAddresses), else the one whose
// Sources contain ip; "" when none, or when several servers share it
// (test set-ups on one loopback address): then nobody is avoided.
func (t *Topology) ServerFrom(ip netip.Addr) string {
	ip = ip.Unmap()
	var byAddr, bySource []string
	for name, s := range t.servers {
		if t.atHost(s.Address, ip) {
			byAddr = append(byAddr, name)
			continue
		}
		for _, p := range s.Sources {
			if p.Contains(ip) {
				bySource = append(bySource, name)
				break
			}
		}
	}
	for _, l := range [][]string{byAddr, bySource} {
		switch len(l) {
		case 0:
			continue
		case 1:
			return l[0]
		}
		return "" // several servers share the address: unknown
	}
	return ""
}

// String renders a copy for logs and explanations.
func (c Copy) String() string {
	s := fmt.Sprintf("%d recipient(s)", len(c.Recipients))
	if c.ForkSite != "" {
		s += ", forks at site " + c.ForkSite
	}
	return s
}
