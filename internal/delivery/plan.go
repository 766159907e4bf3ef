package delivery

import (
	"context"
	"fmt"
	"strings"
	"umbra/internal/mailaddr"

	"umbra/internal/queue"
	"umbra/internal/routing"
)

// Plan implements queue.Planner: it names the destination of each
// recipient without I/O — the same grouping Deliver makes — so that the
// scheduler can queue each group behind its destination's window.
// Recipients answered without a connection (no route, a size limit, a
// suspended queue, a mail loop) form a job without a destination.
// Planning runs on a receiving session's or the scheduler's goroutine
// and never waits on a peer: a recipient whose mailbox database only the
// directory can tell now (not in its cache) joins the job without a
// destination, and its attempt asks the directory (Deliver, with the
// job's context: bounded, and a wait on a peer). ctx is the attempt's.
func (d *Deliverer) Plan(ctx context.Context, m *queue.Message, rcpts []int) []queue.Job {
	return d.plan(ctx, m, rcpts, true)
}

var _ queue.HeldPlanner = (*Deliverer)(nil)

// PlanHeld implements queue.HeldPlanner: the jobs Plan makes were no
// queue suspended — a suspended queue's recipients in a job of their
// destination, not answered at once — so that the scheduler can name
// the destination of a suspended queue's held mail (listed suspended in
// queue destinations), which Plan never gives.
func (d *Deliverer) PlanHeld(ctx context.Context, m *queue.Message, rcpts []int) []queue.Job {
	return d.plan(ctx, m, rcpts, false)
}

// plan is Plan; with suspension false a suspended queue's recipients
// are planned as any other's (PlanHeld).
func (d *Deliverer) plan(ctx context.Context, m *queue.Message, rcpts []int, suspension bool) []queue.Job {
	m = canonical(m)
	st := d.st.Load()
	groups, order, results := st.group(ctx, m, rcpts, planSize(st, m), true, d.hopDown)
	var jobs []queue.Job
	var now []int
	for _, r := range results {
		now = append(now, r.Rcpt)
	}
	for _, k := range order {
		g := groups[k]
		if suspension && st.cfg.Suspended != nil && st.cfg.Suspended(g.queue) {
			now = append(now, g.rcpts...)
			continue
		}
		jobs = append(jobs, queue.Job{Dest: g.key, Queue: g.queue, Max: st.limit(g), Rcpts: g.rcpts})
	}
	if len(now) > 0 {
		jobs = append(jobs, queue.Job{Rcpts: now})
	}
	return jobs
}

var _ queue.RouteNamer = (*Deliverer)(nil)

// RouteQueues implements queue.RouteNamer: the queue each recipient's
// route takes now — the grouping Plan makes, whether or not that queue
// is suspended — parallel to rcpts.
func (d *Deliverer) RouteQueues(m *queue.Message, rcpts []int) []string {
	m = canonical(m)
	st := d.st.Load()
	groups, order, results := st.group(context.Background(), m, rcpts, planSize(st, m), true, d.hopDown) // no I/O, as Plan
	at := make(map[int]string, len(rcpts))
	for _, r := range results {
		at[r.Rcpt] = r.Queue
	}
	for _, k := range order {
		for _, i := range groups[k].rcpts {
			at[i] = groups[k].queue
		}
	}
	out := make([]string, len(rcpts))
	for j, i := range rcpts {
		out[j] = at[i]
	}
	return out
}

// limit is a destination's concurrency limit: its send connector's
// max_connections, else 0: max_connections_per_destination, which the
// scheduler holds and a reload moves at once for the destinations known
// already (queue.Manager.SetReloadable; rt22a L1).
func (st *state) limit(g *group) int {
	if g.conn != nil && g.conn.cfg.MaxConnections > 0 {
		return g.conn.cfg.MaxConnections
	}
	return 0
}

// DestinationLimit is the limit a job of the scheduler's destination
// key gets under the configuration in force, as Plan gives it (limit): a
// send connector's destination ("connector:NAME", "connector:NAME/DOMAIN")
// its max_connections, 0 for none of its own; this server's mailbox
// store ("local") and a destination of the topology ("org:…") 0. A
// reload calls it (queue.Manager.SetReloadable) so that the destinations
// known already show the reloaded limit at once. ok is false for a key it
// names no limit for: a redirect target (its limit is its recipients'
// connector's), a connector the configuration no longer has.
func (d *Deliverer) DestinationLimit(key string) (max int, ok bool) {
	st := d.st.Load()
	switch {
	case key == "local", strings.HasPrefix(key, "org:"):
		return 0, true
	case strings.HasPrefix(key, "connector:"):
		name := strings.TrimPrefix(key, "connector:")
		sc := st.conns[name]
		if i := strings.LastIndexByte(name, '/'); sc == nil && i >= 0 {
			name = name[:i] // connector:NAME/DOMAIN
			sc = st.conns[name]
		}
		if sc == nil && st.cfg.Topology != nil {
			if _, known := st.cfg.Topology.Connector(name); known {
				sc = st.topoConnector(name)
			}
		}
		if sc == nil {
			return 0, false
		}
		return st.limit(&group{conn: sc}), true
	}
	return 0, false
}

// DestinationNamed implements queue.DestinationNamer: whether the
// configuration in force names destination key. A send connector's
// ("connector:NAME", "connector:NAME/DOMAIN") can be told gone — its
// connector renamed or removed by a reload, so no job will name it
// again — and a topology's ("org:…") when no topology is in force (a
// reload dropped it: it lingered failing with no mail left, opsrt43);
// A topology's destination also when a server its next hops name is no
// longer in the topology in force ("org:site:beta/b1,b2" after a reload
// removed b1: the route is "org:site:beta/b2" now, and the old key lingered
// idle beside it until the hourly pruning, sites47 F3).
// Every other key (MX, redirect, local) is kept as named.
func (d *Deliverer) DestinationNamed(key string) bool {
	if rest, ok := strings.CutPrefix(key, "org:"); ok {
		t := d.st.Load().cfg.Topology
		return t != nil && orgServersKnown(t, rest)
	}
	if !strings.HasPrefix(key, "connector:") {
		return true
	}
	_, ok := d.DestinationLimit(key)
	return ok
}

// group sorts a message's recipients by next hop. Recipients that need
// no connection get their result at once. With plan (Plan) it does no
// I/O: a recipient only the directory can route is among the results
// (Plan runs it at once, and its attempt routes it again).
func (st *state) group(ctx context.Context, m *queue.Message, rcpts []int, size int64, plan bool, down func(routing.NextHop) bool) (groups map[string]*group, order []string, results []queue.Result) {
	groups = map[string]*group{}
	planned := orgRoutes(ctx, st, m, rcpts, size, plan, down) // delayed fan-out over the whole message (fanout.go)
	// Without a topology a recipient's group depends on its domain alone:
	// the recipient before with the same domain gives it, without a
	// second routing decision (recipients of one message mostly share
	// their domain).
	var lastDomain string
	var lastG *group
	for _, i := range rcpts {
		addr := m.Rcpts[i].Addr
		domain := mailaddr.AddrKey(addr[strings.LastIndexByte(addr, '@')+1:])
		var g *group
		if reply, ok := addressDomain(domain); ok && m.Rcpts[i].Redirect == "" {
			// An address literal or IP-address text (a sender's, for its
			// DSN; RCPT refuses both) is judged before any route: it
			// fails at once whatever connectors (or topology) there
			// are, as route explain says — never "no send connector"
			// retried until it expires (rt36 front F2).
			results = append(results, failAll([]int{i}, domain, reply)...)
			continue
		}
		if target := m.Rcpts[i].Redirect; target != "" {
			key := "redirect:" + queue.CanonicalRedirect(target) // one queue per target, as an earlier release stored it too (rt18e-F2)
			// One group per connector whose settings (TLS, auth) the
			// redirect borrows: recipients of two connectors' domains
			// redirected to one target do not share one's settings.
			conn := st.redirectConnector(domain, addr, target)
			g = groups[groupID(key, conn)]
			if g == nil {
				g = &group{key: key, queue: key, conn: conn, dom: domain}
			}
		} else if st.cfg.Topology != nil {
			// With a topology every recipient is routed by it —
			// Topology.Route, the function route explain asks — this
			// server's own mailbox store included (a mailbox next hop
			// with no server), so the two cannot differ (rt5 F2).
			r := planned[i]
			switch {
			case r.Lookup: // only in a plan: the attempt asks the directory
				results = append(results, queue.Result{Rcpt: i, Outcome: queue.Deferred, Queue: "directory", NextHop: "directory",
					Reply: "451 4.4.3 mailbox database not yet assigned by the directory"})
				continue
			case len(r.Expand) > 0: // a group expanded here: its members join the message
				results = append(results, queue.Result{Rcpt: i, Outcome: queue.Expanded, Queue: "expansion", NextHop: "expansion",
					Expand: r.Expand, Owned: authoritative(st.cfg.Routing), Reply: fmt.Sprintf("250 2.1.5 group expanded into %d members", len(r.Expand))})
				continue
			case r.NDR != "":
				results = append(results, queue.Result{Rcpt: i, Outcome: queue.FailedPerm, Queue: "routing", NextHop: "routing", Reply: sizeSaid(r.NDR, size, m.Size)})
				continue
			case r.Tempfail != "": // the directory cannot assign a mailbox database now
				results = append(results, queue.Result{Rcpt: i, Outcome: queue.Deferred, Queue: "directory", NextHop: "directory", Reply: r.Tempfail})
				continue
			case len(r.NextHops) == 0:
				results = append(results, queue.Result{Rcpt: i, Outcome: queue.Deferred, Queue: "unreachable", NextHop: "unreachable",
					Reply: "451 4.4.4 " + unreachable(r, domain)})
				continue
			case r.NextHops[0].Kind == routing.HopMailbox && len(r.NextHops[0].Servers) == 0:
				g = st.localGroup(groups)
			case r.NextHops[0].Kind == routing.HopConnector:
				sc := st.topoConnector(r.NextHops[0].Connector)
				key, qname := "connector:"+sc.cfg.Name, "smarthost:"+sc.cfg.Name
				if len(sc.cfg.SmartHosts) == 0 {
					key, qname = key+"/"+domain, "mx:"+domain
				}
				if g = groups[key]; g == nil {
					g = &group{key: key, queue: qname, conn: sc, dom: domain}
				}
			default:
				key := "org:" + r.GroupKey()
				if g = groups[key]; g == nil {
					g = &group{key: key, queue: orgQueue(r.NextHops[0]), hops: r.NextHops, dom: domain}
					if r.NextHops[0].Kind == routing.HopMailbox {
						g.db = r.NextHops[0].Database
					}
				}
			}
		} else if lastG != nil && domain == lastDomain {
			g = lastG
		} else if st.cfg.Routing.Accepted(domain) == routing.Authoritative {
			g = st.localGroup(groups)
			lastDomain, lastG = domain, g
		} else {
			dec, err := st.cfg.Routing.Route(domain)
			if err != nil {
				// A configuration gap, not the recipient's fault: the
				// message waits in retry (the unreachable queue) until a
				// connector appears or it expires.
				results = append(results, queue.Result{Rcpt: i, Outcome: queue.Deferred, Queue: "unreachable",
					NextHop: "unreachable", Reply: "451 4.4.4 " + err.Error()})
				continue
			}
			sc := st.conns[dec.Connector]
			if max := int64(sc.cfg.MaxMessageSize); max > 0 && size > max { // size.go: the message as received
				results = append(results, queue.Result{Rcpt: i, Outcome: queue.FailedPerm, NextHop: dec.Connector,
					Reply: sizeSaid(fmt.Sprintf("552 5.3.4 message size %d exceeds the limit %d of send connector %s", size, max, dec.Connector), size, m.Size)})
				continue
			}
			key, qname := "connector:"+sc.cfg.Name, "smarthost:"+sc.cfg.Name
			if len(sc.cfg.SmartHosts) == 0 {
				key, qname = key+"/"+domain, "mx:"+domain
			}
			g = groups[key]
			if g == nil {
				g = &group{key: key, queue: qname, conn: sc, dom: domain}
			}
			lastDomain, lastG = domain, g
		}
		if len(g.rcpts) == 0 {
			id := groupID(g.key, g.conn)
			groups[id] = g
			order = append(order, id)
		}
		g.rcpts = append(g.rcpts, i)
	}
	return groups, order, results
}

// groupID is a group's key in group's map: its destination key, and for
// an operator's redirect the connector whose settings it borrows too —
// none ("") for a recipient no connector routes, never the name of a
// configured connector (one may be named "redirect": rr ops39 F2).
func groupID(key string, conn *sendConnector) string {
	if conn != nil && conn.redirect {
		return key + "\x00" + conn.borrows
	}
	return key
}

// localGroup is the group of this server's own mailbox store (the
// configuration's mailbox:): authoritative domains without a topology,
// and with one those its recipient map gives no database.
func (st *state) localGroup(groups map[string]*group) *group {
	if g := groups["local"]; g != nil {
		return g
	}
	return &group{key: "local", queue: "mailbox:" + st.cfg.Mailbox.Database, db: st.cfg.Mailbox.Database}
}

// unreachable says why a route has no next hop: no send connector
// serves the domain, or the destination it names has none.
func unreachable(r routing.Route, domain string) string {
	if r.Destination == routing.NoConnector {
		return "no send connector serves " + domain
	}
	return "no route to " + r.Destination
}

// canonical is m with its sender and recipients in their canonical form
// (mailaddr.Canonical), or m itself when they are so already. Every entry
// path queues canonical addresses; a recipient queued with a final dot
// by an earlier release (a pickup file's) is planned, validated,
// delivered into its Maildir and relayed as RCPT would have stored it,
// never as a domain of its own (rt16d F1). Results name recipients by
// index, so they apply to m as stored.
func canonical(m *queue.Message) *queue.Message {
	same := mailaddr.IsCanonical(m.From)
	for i := range m.Rcpts {
		same = same && mailaddr.IsCanonical(m.Rcpts[i].Addr)
	}
	if same {
		return m
	}
	c := *m
	c.From = mailaddr.Canonical(m.From)
	c.Rcpts = append([]queue.Recipient(nil), m.Rcpts...)
	for i := range c.Rcpts {
		c.Rcpts[i].Addr = mailaddr.Canonical(c.Rcpts[i].Addr)
	}
	return &c
}

// authoritative reports whether t makes this organisation authoritative
// for a domain: a group's members there compare in ASCII case when the
// queue adds them (queue.Result.Owned), one mailbox of this organisation
// staying one recipient; elsewhere "TD@" and "td@" are two (rt17b-F2).
func authoritative(t *routing.Table) func(domain string) bool {
	return func(d string) bool { return t != nil && t.Accepted(d) == routing.Authoritative }
}

// orgServersKnown reports whether the topology in force t can still
// produce an org destination's key: each next hop of its route
// (routing.NextHop.Key, joined by "|") — "site:S/A,B" a hop into a site
// of these servers as routing produces it now (routing.SiteHopNamed: a
// server removed, moved to another site, or a hub added beside them
// changes it), "legacy:A,B" servers of t, "connector:NAME" a send
// connector of t —, or, for a per-address key ("org:HOST:PORT", one
// server's sessions, org.go), a server of t at that address (receipt48
// item 5: it judged only removed servers). A mailbox database's hop is
// named (a directory may assign it). Only an idle destination is dropped
// for a false answer, and one used again is made anew.
func orgServersKnown(t *routing.Topology, key string) bool {
	hops := strings.Split(key, "|")
	for _, hop := range hops {
		switch {
		case strings.HasPrefix(hop, "site:"):
			site, servers, slash := strings.Cut(strings.TrimPrefix(hop, "site:"), "/")
			if !slash {
				continue // a site alone names no server set
			}
			var list []string
			if servers != "" {
				list = strings.Split(servers, ",")
			}
			if !t.SiteHopNamed(site, list) {
				return false
			}
		case strings.HasPrefix(hop, "legacy:"):
			for _, name := range strings.Split(strings.TrimPrefix(hop, "legacy:"), ",") {
				if name == "" {
					continue
				}
				if _, ok := t.Server(name); !ok {
					return false
				}
			}
		case strings.HasPrefix(hop, "connector:"):
			if _, ok := t.Connector(strings.TrimPrefix(hop, "connector:")); !ok {
				return false
			}
		case strings.HasPrefix(hop, "mailbox:"):
		case len(hops) == 1 && strings.Contains(hop, ":"):
			// One server's sessions (org.go): "org:" and its address.
			if !t.HasServerAddress(hop) {
				return false
			}
		}
	}
	return true
}
