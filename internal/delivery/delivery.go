package delivery

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/config"
	"umbra/internal/mailbox"
	"umbra/internal/orgid"
	"umbra/internal/queue"
	"umbra/internal/routing"
	"umbra/internal/smtp"
)

// Resolver is the DNS the deliverer needs; *net.Resolver implements it,
// tests use a fake.
type Resolver interface {
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupHost(ctx context.Context, host string) ([]string, error)
}

// Config configures a Deliverer.
type Config struct {
	Hostname       string
	Routing        *routing.Table
	SendConnectors []config.SendConnector
	Mailbox        config.Mailbox
	Resolver       Resolver
	ConnectTimeout time.Duration
	CommandTimeout time.Duration
	DataTimeout    time.Duration
	// MaxConnectionsPerDestination applies where a connector sets none.
	MaxConnectionsPerDestination int
	// TLSConfig is the base for outbound TLS (tests add their CA).
	TLSConfig *tls.Config
	// Suspended reports whether the operator suspended a queue; its
	// recipients are returned Held without a connection.
	Suspended func(queue string) bool
	// Topology, when set, routes every recipient that is not delivered
	// into the local mailbox store, as the server named LocalServer.
	Topology    *routing.Topology
	LocalServer string
	// ShadowServerID, when set, is this server's id in shadow sessions:
	// relays inside the organisation and send connectors with
	// send_xshadow open one when the next hop offers XSHADOW. Shadows
	// hears of every session with a primary (contact and discards).
	ShadowServerID string
	Shadows        Shadows
	// ShadowRetriesRemote and ShadowRetriesLocal are the tries of a
	// shadow copy on receipt at servers of other sites and of this one
	// (receipt.go; max_retries_remote_site_shadow, …_local_site_shadow).
	ShadowRetriesRemote, ShadowRetriesLocal int
	// SourceAddress is the local IP address outbound connections bind
	// to, unless their send connector names its own (source.go).
	SourceAddress string
	// Dedup, when set, is asked before every final delivery: it
	// suppresses a message (by organisation message id) that already
	// reached the recipient's mailbox database, and holds back a copy
	// while another is being delivered (SR-11; queue.Manager.ClaimFinal).
	Dedup Dedup
	Log   *slog.Logger
	// MaxHopCount: a message with more Received: headers is not relayed
	// but fails with 5.4.6 (a mail loop); 0 means no bound.
	MaxHopCount int
	// Dial, when set, opens every outbound connection instead of a
	// net.Dialer (source addresses do not apply): the in-process
	// simulation's network (internal/sim).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Dedup is the record of final deliveries.
type Dedup interface {
	ClaimFinal(id queue.ID, database, orgID, rcpt string) queue.Claim
}

// Shadows is told of every session with a primary (shadow.Manager).
type Shadows interface {
	Contact(primary, dbID string, discards []string)
}

// Deliverer implements queue.Deliverer: it groups a message's recipients
// by next hop and delivers each group over one connection.
type Deliverer struct {
	st    atomic.Pointer[state] // swapped whole by Reload
	log   *slog.Logger
	bal   *balancer
	dedup atomic.Pointer[dedupHolder]
	rcpts atomic.Pointer[rcptHolder] // SetRecipients (verify.go)

	// health deprioritises servers that failed a heartbeat (SR-16).
	health *destHealth

	mu    sync.Mutex
	slots map[string]chan struct{} // per-destination connection limits
	idle  map[string][]*pooled     // reusable connections per destination
}

// state is what a configuration determines; an attempt uses the state
// it started with.
type state struct {
	cfg     Config
	conns   map[string]*sendConnector
	maildir *mailbox.Maildir
}

type sendConnector struct {
	cfg      config.SendConnector
	password string
}

type pooled struct {
	c    *smtp.Client
	used time.Time
}

// idleReuse is how long a finished connection waits for the next message
// to the same destination.
const idleReuse = 5 * time.Second

// New prepares a Deliverer, reading smart-host passwords now so that a
// missing file fails the start.
func New(cfg Config) (*Deliverer, error) {
	st, err := newState(cfg)
	if err != nil {
		return nil, err
	}
	d := &Deliverer{log: st.cfg.Log, bal: newBalancer(), health: newDestHealth(), slots: map[string]chan struct{}{}, idle: map[string][]*pooled{}}
	d.st.Store(st)
	return d, nil
}

func newState(cfg Config) (*state, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Resolver == nil {
		cfg.Resolver = net.DefaultResolver
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 30 * time.Second
	}
	if cfg.MaxConnectionsPerDestination <= 0 {
		cfg.MaxConnectionsPerDestination = 10
	}
	if cfg.Mailbox.Database == "" {
		cfg.Mailbox.Database = config.DefaultMailboxDatabase
	}
	st := &state{cfg: cfg, conns: map[string]*sendConnector{}}
	for _, sc := range cfg.SendConnectors {
		c := &sendConnector{cfg: sc}
		if sc.Auth.PasswordFile != "" {
			b, err := os.ReadFile(sc.Auth.PasswordFile)
			if err != nil {
				return nil, fmt.Errorf("send connector %s: %w", sc.Name, err)
			}
			c.password, _, _ = strings.Cut(string(b), "\n")
		}
		st.conns[sc.Name] = c
	}
	if cfg.Mailbox.Maildir != "" {
		st.maildir = &mailbox.Maildir{Root: cfg.Mailbox.Maildir, Hostname: cfg.Hostname}
	}
	if err := st.checkSourceAddresses(); err != nil {
		return nil, err
	}
	return st, nil
}

// redirectConnector is the connector for an operator's redirect: the
// settings (TLS, auth, port) of the connector that routes domain, if any,
// with the target as its only smart host.
func (st *state) redirectConnector(domain, target string) *sendConnector {
	c := &sendConnector{cfg: config.SendConnector{Name: "redirect", Port: config.DefaultSMTPPort, TLS: config.TLSOpportunistic}}
	if dec, err := st.cfg.Routing.Route(domain); err == nil {
		if sc := st.conns[dec.Connector]; sc != nil {
			cp := *sc
			c = &cp
		}
	}
	c.cfg.SmartHosts = []string{target}
	c.cfg.MaxMessageSize = 0
	return c
}

// SetDedup wires the record of final deliveries (the queue manager, built
// after the deliverer); it survives reloads.
func (d *Deliverer) SetDedup(dd Dedup) {
	d.dedup.Store(&dedupHolder{dd})
	st := *d.st.Load()
	st.cfg.Dedup = dd
	d.st.Store(&st)
}

type dedupHolder struct {
	dd Dedup
}

// Reload swaps in a new configuration (passwords are read again). Attempts
// under way finish with the old one; pooled connections are closed, since
// a connector's hosts or credentials may have changed.
func (d *Deliverer) Reload(cfg Config) error {
	if h := d.dedup.Load(); h != nil && cfg.Dedup == nil {
		cfg.Dedup = h.dd
	}
	st, err := newState(cfg)
	if err != nil {
		return err
	}
	d.st.Store(st)
	d.mu.Lock()
	idle := d.idle
	d.idle, d.slots = map[string][]*pooled{}, map[string]chan struct{}{}
	d.mu.Unlock()
	for _, l := range idle {
		for _, pc := range l {
			go d.endSession(pc.c)
		}
	}
	return nil
}

// group is the recipients of one message that share a next hop.
type group struct {
	key   string // destination: "local", "connector:NAME" or "connector:NAME/domain"
	queue string // the queue it is shown in: "mailbox:DATABASE", "smarthost:NAME", "mx:domain"
	conn  *sendConnector
	dom   string
	hops  []routing.NextHop // an organisation route (relay, mailbox, legacy)
	db    string            // the mailbox database of a final delivery
	rcpts []int
}

// Deliver implements queue.Deliverer. Every copy it sends or writes
// carries the organisation message id in front (package orgid): the
// next hop, a shadow server's takeover, LMTP's Sieve and a Maildir
// reader all see the same identity.
func (d *Deliverer) Deliver(ctx context.Context, m *queue.Message, body []byte, rcpts []int) []queue.Result {
	st := d.st.Load()
	body = orgid.Prepend(m.OrgID, body)
	var results []queue.Result
	groups := map[string]*group{}
	var order []string
	planned := orgRoutes(st, m, rcpts) // delayed fan-out over the whole message (fanout.go)
	for _, i := range rcpts {
		addr := m.Rcpts[i].Addr
		domain := strings.ToLower(addr[strings.LastIndexByte(addr, '@')+1:])
		var g *group
		if target := m.Rcpts[i].Redirect; target != "" {
			key := "redirect:" + target
			g = groups[key]
			if g == nil {
				g = &group{key: key, queue: key, conn: st.redirectConnector(domain, target), dom: domain}
			}
		} else if typ := st.cfg.Routing.Accepted(domain); st.cfg.Topology != nil &&
			(typ != routing.Authoritative || st.cfg.Topology.HasMailbox(addr)) {
			r := planned[i]
			switch {
			case len(r.Expand) > 0: // a group expanded here: its members join the message
				results = append(results, queue.Result{Rcpt: i, Outcome: queue.Expanded, Queue: "expansion", NextHop: "expansion",
					Expand: r.Expand, Reply: fmt.Sprintf("250 2.1.5 group expanded into %d members", len(r.Expand))})
				continue
			case r.NDR != "":
				results = append(results, queue.Result{Rcpt: i, Outcome: queue.FailedPerm, Queue: "routing", NextHop: "routing", Reply: r.NDR})
				continue
			case len(r.NextHops) == 0:
				results = append(results, queue.Result{Rcpt: i, Outcome: queue.Deferred, Queue: "unreachable", NextHop: "unreachable",
					Reply: "451 4.4.4 no route to " + r.Destination})
				continue
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
		} else if typ == routing.Authoritative {
			g = groups["local"]
			if g == nil {
				g = &group{key: "local", queue: "mailbox:" + st.cfg.Mailbox.Database, db: st.cfg.Mailbox.Database}
			}
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
			if max := int64(sc.cfg.MaxMessageSize); max > 0 && m.Size > max {
				results = append(results, queue.Result{Rcpt: i, Outcome: queue.FailedPerm, NextHop: dec.Connector,
					Reply: fmt.Sprintf("552 5.3.4 message size %d exceeds the limit %d of send connector %s", m.Size, max, dec.Connector)})
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
		}
		if len(g.rcpts) == 0 {
			groups[g.key] = g
			order = append(order, g.key)
		}
		g.rcpts = append(g.rcpts, i)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, k := range order {
		g := groups[k]
		if st.cfg.Suspended != nil && st.cfg.Suspended(g.queue) {
			for _, i := range g.rcpts {
				results = append(results, queue.Result{Rcpt: i, Outcome: queue.Held, Queue: g.queue,
					Reply: "452 4.3.2 queue " + g.queue + " suspended by the administrator"})
			}
			continue
		}
		if res := hopLimit(st, body, g); res != nil {
			results = append(results, res...)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var res []queue.Result
			if g.key == "local" {
				res = d.deliverLocal(ctx, st, m, body, g)
			} else if g.hops != nil {
				res = d.deliverOrg(ctx, st, m, body, g)
			} else {
				res = d.deliverRemote(ctx, st, m, body, g)
			}
			for k := range res {
				res[k].Queue = g.queue
				if res[k].Outcome == queue.DeliveredOK {
					res[k].Database = g.db
				}
			}
			mu.Lock()
			results = append(results, res...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return results
}

// suppressDuplicates answers the recipients whose copy of this message
// is already in their mailbox database (and holds back those whose copy
// is being delivered by another attempt right now), and returns the
// others, each now claimed by this attempt.
func suppressDuplicates(st *state, m *queue.Message, db string, rcpts []int, hop string) ([]queue.Result, []int) {
	if st.cfg.Dedup == nil || m.OrgID == "" {
		return nil, rcpts
	}
	var dup []queue.Result
	var rest []int
	for _, i := range rcpts {
		switch st.cfg.Dedup.ClaimFinal(m.ID, db, m.OrgID, m.Rcpts[i].Addr) {
		case queue.Duplicate:
			dup = append(dup, queue.Result{Rcpt: i, Outcome: queue.DeliveredOK, NextHop: hop, Duplicate: true,
				Reply: "250 2.0.0 duplicate suppressed: org id " + m.OrgID + " was delivered to database " + db + " before"})
		case queue.Busy:
			dup = append(dup, queue.Result{Rcpt: i, Outcome: queue.Deferred, NextHop: hop,
				Reply: "451 4.3.0 another copy of org id " + m.OrgID + " is being delivered to database " + db})
		default:
			rest = append(rest, i)
		}
	}
	return dup, rest
}

func (d *Deliverer) deliverLocal(ctx context.Context, st *state, m *queue.Message, body []byte, g *group) []queue.Result {
	dup, rcpts := suppressDuplicates(st, m, g.db, g.rcpts, "mailbox")
	if len(rcpts) == 0 {
		return dup
	}
	return append(dup, d.deliverLocalNew(ctx, st, m, body, g.db, rcpts)...)
}

func (d *Deliverer) deliverLocalNew(ctx context.Context, st *state, m *queue.Message, body []byte, db string, rcpts []int) []queue.Result {
	if st.maildir != nil {
		var out []queue.Result
		for _, i := range rcpts {
			if r, loop := deliveredBefore(m, body, i, "maildir"); loop {
				out = append(out, r)
				continue
			}
			addr := m.Rcpts[i].Addr
			at := strings.LastIndexByte(addr, '@')
			if d.unknownLocal(ctx, addr) {
				out = append(out, queue.Result{Rcpt: i, Outcome: queue.FailedPerm, NextHop: "maildir", Reply: "550 5.1.1 <" + addr + ">: no such mailbox"})
				continue
			}
			err := st.maildir.Deliver(addr[:at], addr[at+1:], m.From, mailbox.Name(db, m.OrgID, addr), withoutTrace(body))
			r := queue.Result{Rcpt: i, Outcome: queue.DeliveredOK, NextHop: "maildir", Reply: "250 2.0.0 delivered to maildir"}
			if err != nil {
				d.log.Error("maildir delivery failed", "msg_id", m.ID.String(), "rcpt", addr, "err", err)
				r.Outcome, r.Reply = queue.Deferred, "451 4.3.0 maildir write failed"
			}
			out = append(out, r)
		}
		return out
	}
	if st.cfg.Mailbox.LMTP == "" {
		return deferAll(rcpts, "local", "451 4.3.5 no mailbox delivery configured")
	}
	network, addr := "tcp", st.cfg.Mailbox.LMTP
	if p, ok := strings.CutPrefix(addr, "unix:"); ok {
		network, addr = "unix", p
	}
	nc, err := st.dial(ctx, nil, network, addr)
	if err != nil {
		return deferAll(rcpts, "lmtp", "451 4.4.1 LMTP server unreachable: "+err.Error())
	}
	c, err := smtp.NewClient(ctx, nc, smtp.ClientOptions{LocalName: st.cfg.Hostname, LMTP: true,
		CommandTimeout: st.cfg.CommandTimeout, DataTimeout: st.cfg.DataTimeout})
	if err != nil {
		return deferAll(rcpts, "lmtp", "451 4.4.2 LMTP greeting failed: "+smtp.Reply(err))
	}
	defer c.Close()
	return d.transaction(ctx, st, c, "lmtp", m, body, rcpts, true)
}

// deliverRemote sends a group through its send connector: to a smart
// host, or to the domain's MX hosts in preference order.
func (d *Deliverer) deliverRemote(ctx context.Context, st *state, m *queue.Message, body []byte, g *group) []queue.Result {
	release, ok := d.acquire(ctx, st, g)
	if !ok {
		return deferAll(g.rcpts, g.key, "451 4.3.2 shutting down")
	}
	defer release()

	if pc := d.takeIdle(g.key); pc != nil {
		if err := pc.c.Noop(); err == nil { // alive; no RSET: go-smtp would send EHLO again after it
			res := d.transaction(ctx, st, pc.c, pc.c.Hop(), m, body, g.rcpts, false)
			d.finishConn(g.key, pc.c, res)
			return res
		}
		pc.c.Close()
	}

	hosts, res := d.destinations(ctx, st, g)
	if res != nil {
		return res
	}
	hosts = d.health.orderHosts(hosts)
	lastErr, lastHost := "451 4.4.1 no host reachable", g.key
	for _, h := range hosts {
		c, err := d.connect(ctx, st, g.conn, h)
		if err != nil {
			lastErr, lastHost = err.Error(), h.String()
			if errors.Is(err, errPermanent) {
				return failAll(g.rcpts, h.String(), err.Error())
			}
			d.log.Info("next hop host failed", "msg_id", m.ID.String(), "next_hop", h.String(), "err", err)
			continue
		}
		d.health.responsive(h.name, h.addr)
		if g.conn.cfg.SendXShadow {
			d.openShadow(st, c, h.name)
			c.Via = g.conn.cfg.Name
		}
		res := d.transaction(ctx, st, c, h.String(), m, body, g.rcpts, false)
		d.finishConn(g.key, c, res)
		return res
	}
	return deferAll(g.rcpts, lastHost, lastErr)
}

// finishConn keeps a healthy connection for the next message to the same
// destination, or closes it.
func (d *Deliverer) finishConn(key string, c *smtp.Client, res []queue.Result) {
	for _, r := range res {
		if r.Outcome == queue.Deferred && strings.HasPrefix(r.Reply, "451 4.4.2") {
			c.Close() // the connection broke
			return
		}
	}
	d.mu.Lock()
	d.idle[key] = append(d.idle[key], &pooled{c: c, used: time.Now()})
	d.mu.Unlock()
	time.AfterFunc(idleReuse, func() { d.expireIdle(key) })
}

func (d *Deliverer) takeIdle(key string) *pooled {
	d.mu.Lock()
	defer d.mu.Unlock()
	l := d.idle[key]
	for len(l) > 0 {
		pc := l[len(l)-1]
		l = l[:len(l)-1]
		d.idle[key] = l
		if time.Since(pc.used) < idleReuse {
			return pc
		}
		go d.endSession(pc.c)
	}
	return nil
}

func (d *Deliverer) expireIdle(key string) {
	d.mu.Lock()
	var keep []*pooled
	var stale []*pooled
	for _, pc := range d.idle[key] {
		if time.Since(pc.used) >= idleReuse {
			stale = append(stale, pc)
		} else {
			keep = append(keep, pc)
		}
	}
	d.idle[key] = keep
	d.mu.Unlock()
	for _, pc := range stale {
		d.endSession(pc.c)
	}
}

// Close ends every pooled connection, in parallel (each asks for its
// discards first), waiting at most closeWait: a hung primary must not
// hold up a shutdown.
func (d *Deliverer) Close() {
	d.mu.Lock()
	idle := d.idle
	d.idle = map[string][]*pooled{}
	d.mu.Unlock()
	var wg sync.WaitGroup
	for _, l := range idle {
		for _, pc := range l {
			wg.Add(1)
			go func() { defer wg.Done(); d.endSession(pc.c) }()
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(closeWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}

// closeWait bounds Close.
const closeWait = 10 * time.Second

func (d *Deliverer) acquire(ctx context.Context, st *state, g *group) (func(), bool) {
	limit := g.conn.cfg.MaxConnections
	if limit <= 0 {
		limit = st.cfg.MaxConnectionsPerDestination
	}
	d.mu.Lock()
	ch := d.slots[g.key]
	if ch == nil {
		ch = make(chan struct{}, limit)
		d.slots[g.key] = ch
	}
	d.mu.Unlock()
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, true
	case <-ctx.Done():
		return nil, false
	}
}

// host is one address to try, with the name it was found under.
type host struct {
	name string
	addr string // ip:port
}

func (h host) String() string {
	ip, port, _ := net.SplitHostPort(h.addr)
	return fmt.Sprintf("%s[%s]:%s", h.name, ip, port)
}

var errPermanent = errors.New("permanent")

// destinations lists the addresses to try for a group, in order: smart
// hosts in random order (spreading load), or MX hosts by preference
// (random among equals), falling back to the domain's own address when it
// has no MX (RFC 5321 §5.1).
func (d *Deliverer) destinations(ctx context.Context, st *state, g *group) ([]host, []queue.Result) {
	port := strconv.Itoa(g.conn.cfg.Port)
	var names []string
	if len(g.conn.cfg.SmartHosts) > 0 {
		names = append(names, g.conn.cfg.SmartHosts...)
		rand.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
	} else {
		mxs, err := st.cfg.Resolver.LookupMX(ctx, g.dom)
		var dnsErr *net.DNSError
		switch {
		case err == nil && len(mxs) == 1 && (mxs[0].Host == "." || mxs[0].Host == ""):
			return nil, failAll(g.rcpts, g.dom, "556 5.1.10 domain "+g.dom+" accepts no mail (null MX)")
		case err == nil && len(mxs) > 0:
			sort.SliceStable(mxs, func(i, j int) bool { return mxs[i].Pref < mxs[j].Pref })
			for i := 0; i < len(mxs); {
				j := i
				for j < len(mxs) && mxs[j].Pref == mxs[i].Pref {
					j++
				}
				same := mxs[i:j]
				rand.Shuffle(len(same), func(a, b int) { same[a], same[b] = same[b], same[a] })
				i = j
			}
			for _, mx := range mxs {
				names = append(names, strings.TrimSuffix(mx.Host, "."))
			}
		case errors.As(err, &dnsErr) && dnsErr.IsNotFound || err == nil:
			names = []string{g.dom} // no MX: the domain itself
		default:
			return nil, deferAll(g.rcpts, g.dom, "451 4.4.3 MX lookup for "+g.dom+" failed: "+err.Error())
		}
	}
	var hosts []host
	var lastErr error
	for _, n := range names {
		name, p := n, port
		if h, pp, err := net.SplitHostPort(n); err == nil {
			name, p = h, pp
		}
		if ip := net.ParseIP(name); ip != nil {
			hosts = append(hosts, host{name: name, addr: net.JoinHostPort(name, p)})
			continue
		}
		addrs, err := st.cfg.Resolver.LookupHost(ctx, name)
		if err != nil {
			lastErr = err
			var de *net.DNSError
			if errors.As(err, &de) && de.IsNotFound && len(names) == 1 && len(g.conn.cfg.SmartHosts) == 0 {
				return nil, failAll(g.rcpts, g.dom, "550 5.1.2 domain "+g.dom+" not found")
			}
			continue
		}
		for _, a := range addrs {
			hosts = append(hosts, host{name: name, addr: net.JoinHostPort(a, p)})
		}
	}
	if len(hosts) == 0 {
		msg := "451 4.4.4 no address for any host of " + g.key
		if lastErr != nil {
			msg += ": " + lastErr.Error()
		}
		return nil, deferAll(g.rcpts, g.key, msg)
	}
	return hosts, nil
}

func (d *Deliverer) connect(ctx context.Context, st *state, sc *sendConnector, h host) (*smtp.Client, error) {
	policy := map[string]smtp.TLSPolicy{config.TLSNone: smtp.TLSNone, config.TLSOpportunistic: smtp.TLSOpportunistic,
		config.TLSRequired: smtp.TLSRequired, config.TLSVerify: smtp.TLSVerify}[sc.cfg.TLS]
	for attempt := 0; attempt < 2; attempt++ {
		nc, err := st.dial(ctx, sc, "tcp", h.addr)
		if err != nil {
			return nil, fmt.Errorf("451 4.4.1 connect to %s: %v", h, err)
		}
		c, err := smtp.NewClient(ctx, nc, smtp.ClientOptions{LocalName: st.cfg.Hostname, ServerName: h.name, TLS: policy,
			RootCAs: st.cfg.TLSConfig, CommandTimeout: st.cfg.CommandTimeout, DataTimeout: st.cfg.DataTimeout})
		if errors.Is(err, smtp.ErrTLSUnavailable) && policy == smtp.TLSOpportunistic {
			policy = smtp.TLSNone // the handshake failed: plaintext, as opportunistic TLS allows
			continue
		}
		if errors.Is(err, smtp.ErrTLSUnavailable) {
			return nil, fmt.Errorf("451 4.7.5 %s: %v", h, err)
		}
		if err != nil {
			return nil, fmt.Errorf("451 4.4.2 greeting from %s: %s", h, smtp.Reply(err))
		}
		c.SetHop(h.String())
		if sc.cfg.Auth.Username != "" {
			if err := c.Auth(sasl.NewPlainClient("", sc.cfg.Auth.Username, sc.password)); err != nil {
				c.Close()
				return nil, fmt.Errorf("451 4.7.0 authentication to %s failed: %s", h, smtp.Reply(err))
			}
		}
		return c, nil
	}
	return nil, fmt.Errorf("451 4.7.5 %s: STARTTLS failed", h)
}

// transaction runs MAIL, RCPT… and DATA and maps every reply to a
// per-recipient result: 2xx done, 4xx deferred, 5xx failed.
func (d *Deliverer) transaction(ctx context.Context, st *state, c *smtp.Client, hop string, m *queue.Message, body []byte, rcpts []int, lmtp bool) []queue.Result {
	if lmtp { // final delivery: loops, and the trace fields are the LMTP server's
		if loops, rest := loopsAmong(m, body, rcpts, hop); len(loops) > 0 {
			if len(rest) == 0 {
				return loops
			}
			return append(loops, d.transaction(ctx, st, c, hop, m, body, rest, true)...)
		}
		body = withoutTrace(body)
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	okOutcome := queue.RelayedOK
	if lmtp {
		okOutcome = queue.DeliveredOK
	}
	primary, shadowID := "", ""
	if c.ShadowDB != "" && !lmtp {
		primary = c.Hop()
		shadowID = m.ID.String() + "-" + shortHash(primary)
		c.SetShadowID(shadowID)
		defer d.queryDiscards(st, c, primary)
	}
	opts := &gosmtp.MailOptions{Size: int64(len(body)), EnvelopeID: m.EnvID}
	if m.RetFull {
		opts.Return = gosmtp.DSNReturnFull
	}
	if utf8, _ := c.Extension("SMTPUTF8"); m.UTF8 && utf8 {
		opts.UTF8 = true
	} else if m.UTF8 && !envelopeASCII(m, rcpts) {
		return failAll(rcpts, hop, "553 5.6.7 "+hop+" does not support SMTPUTF8")
	}
	if err := c.Mail(m.From, opts); err != nil {
		return classifyAll(rcpts, hop, err)
	}
	var out, accepted []queue.Result
	var acceptedAddrs []string
	for _, i := range rcpts {
		r := m.Rcpts[i]
		ro := &gosmtp.RcptOptions{}
		for bit, n := range map[queue.Notify]gosmtp.DSNNotify{queue.NotifyNever: gosmtp.DSNNotifyNever,
			queue.NotifySuccess: gosmtp.DSNNotifySuccess, queue.NotifyFailure: gosmtp.DSNNotifyFailure,
			queue.NotifyDelay: gosmtp.DSNNotifyDelayed} {
			if r.Notify&bit != 0 {
				ro.Notify = append(ro.Notify, n)
			}
		}
		sortNotify(ro.Notify)
		if typ, addr, ok := strings.Cut(r.ORcpt, ";"); ok && strings.EqualFold(typ, "rfc822") {
			ro.OriginalRecipientType, ro.OriginalRecipient = gosmtp.DSNAddressTypeRFC822, addr
		}
		if err := c.Rcpt(r.Addr, ro); err != nil {
			res := classify(i, hop, err)
			out = append(out, res)
			if res.Outcome == queue.Deferred && strings.HasPrefix(res.Reply, "451 4.4.2") {
				// Connection lost: the rest cannot be tried now.
				return append(out, deferAll(remaining(rcpts, i), hop, res.Reply)...)
			}
			continue
		}
		accepted = append(accepted, queue.Result{Rcpt: i, NextHop: hop})
		acceptedAddrs = append(acceptedAddrs, r.Addr)
	}
	if len(accepted) == 0 {
		c.Reset()
		return out
	}
	n := 1
	if lmtp {
		n = len(accepted) // LMTP: one reply per accepted recipient
	}
	replies, err := c.SendData(body, n)
	var se *gosmtp.SMTPError
	if len(replies) == 0 && errors.As(err, &se) {
		return append(out, classifyAll(indexes(accepted), hop, err)...) // DATA refused
	}
	for k, a := range accepted {
		r := 0 // SMTP: one reply for all
		if lmtp {
			r = k
		}
		switch {
		case r >= len(replies):
			// The connection broke before this reply: the message may or
			// may not have arrived; it is sent again (at least once).
			a = queue.Result{Rcpt: a.Rcpt, Outcome: queue.Deferred, NextHop: hop,
				Reply: "451 4.4.2 connection lost during DATA: " + errText(err)}
		case replies[r].Err != nil:
			a = classify(a.Rcpt, hop, replies[r].Err)
		default:
			a.Outcome, a.Reply = okOutcome, "250 "+replies[r].Text
		}
		if a.Outcome == okOutcome && !lmtp {
			// go-smtp passed NOTIFY, ORCPT, RET and ENVID on when the
			// next hop advertised DSN: success is then its to report.
			a.DSNPassed, _ = c.Extension("DSN")
		}
		if a.Outcome == okOutcome && shadowID != "" {
			a.Outcome, a.Primary, a.PrimaryAddr, a.ShadowID, a.PrimaryVia = queue.ShadowedOK, primary, c.RemoteAddr(), shadowID, c.Via
			a.PrimaryDB = c.ShadowDB // the database the copy is made against (SR-13)
		}
		out = append(out, a)
	}
	return out
}

func errText(err error) string {
	if err == nil {
		return "no reply"
	}
	return err.Error()
}

// openShadow makes the session a shadow session when this server shadows
// and the peer offers XSHADOW; the peer is then the primary, named by hop.
func (d *Deliverer) openShadow(st *state, c *smtp.Client, primary string) {
	if st.cfg.ShadowServerID == "" || c.ShadowDB != "" {
		return
	}
	db, err := c.Shadow(st.cfg.ShadowServerID)
	if errors.Is(err, smtp.ErrNoShadow) {
		return // a non-shadow next hop (SR-10): deliver and forget
	}
	if err != nil {
		d.log.Info("shadow session refused; relaying without it", "primary", primary, "err", err)
		return
	}
	c.SetHop(primary)
	if st.cfg.Shadows != nil {
		st.cfg.Shadows.Contact(primary, db, nil)
	}
}

// queryDiscardsEvery bounds how often a busy shadow session asks for
// discards (SR-3: during and at the end of sessions with a primary).
const queryDiscardsEvery = time.Second

func (d *Deliverer) queryDiscards(st *state, c *smtp.Client, primary string) {
	if st.cfg.Shadows == nil || time.Since(c.LastQuery) < queryDiscardsEvery {
		return
	}
	c.LastQuery = time.Now()
	var all []string
	for i := 0; i < 100; i++ {
		ids, err := c.QueryDiscard(1000)
		if err != nil {
			d.log.Info("XQUERYDISCARD failed", "primary", primary, "err", err)
			return
		}
		all = append(all, ids...)
		if len(ids) < 1000 {
			break
		}
	}
	st.cfg.Shadows.Contact(primary, c.ShadowDB, all)
}

// endSession closes a pooled connection. On a shadow session it first
// asks the primary for its discard notifications: at the end of every
// session with a primary (SR-3), not only at most once a second during
// it, so that copies do not wait for the next heartbeat.
func (d *Deliverer) endSession(c *smtp.Client) {
	if c.ShadowDB != "" {
		c.LastQuery = time.Time{}
		d.queryDiscards(d.st.Load(), c, c.Hop())
	}
	c.Quit()
}

// Heartbeat opens a session to a primary only to ask for its discard
// notifications (SR-5, W-5): EHLO, STARTTLS and AUTH as the send
// connector the copies went through does (addr is "host:port" or
// "host:port via CONNECTOR"), XSHADOW, XQUERYDISCARD…, QUIT, each step
// bounded by ctx and the command timeout.
func (d *Deliverer) Heartbeat(ctx context.Context, primary, addr string) (string, []string, error) {
	hostAddr, _, _ := strings.Cut(addr, " via ")
	db, ids, err := d.heartbeat(ctx, primary, addr)
	if err != nil {
		// Deliveries try other servers first from now on (SR-16).
		d.health.unresponsive(time.Now(), err.Error(), primary, hostAddr)
	} else {
		d.health.responsive(primary, hostAddr)
	}
	return db, ids, err
}

func (d *Deliverer) heartbeat(ctx context.Context, primary, addr string) (string, []string, error) {
	st := d.st.Load()
	addr, via, _ := strings.Cut(addr, " via ")
	var sc *sendConnector
	if via != "" {
		if sc = st.conns[via]; sc == nil {
			return "", nil, fmt.Errorf("send connector %s is gone", via)
		}
		c, err := d.connect(ctx, st, sc, host{name: primary, addr: addr})
		if err != nil {
			return "", nil, err
		}
		defer c.Close()
		return d.queryAll(ctx, st, c)
	}
	nc, err := st.dial(ctx, nil, "tcp", addr)
	if err != nil {
		return "", nil, err
	}
	c, err := smtp.NewClient(ctx, nc, smtp.ClientOptions{LocalName: st.cfg.Hostname, ServerName: primary, TLS: smtp.TLSOpportunistic,
		RootCAs: st.cfg.TLSConfig, CommandTimeout: st.cfg.CommandTimeout})
	if err != nil {
		return "", nil, err
	}
	defer c.Close()
	return d.queryAll(ctx, st, c)
}

// queryAll is the heartbeat's XSHADOW and XQUERYDISCARD loop.
func (d *Deliverer) queryAll(ctx context.Context, st *state, c *smtp.Client) (string, []string, error) {
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	db, err := c.Shadow(st.cfg.ShadowServerID)
	if err != nil {
		return "", nil, err
	}
	var all []string
	for i := 0; i < 100; i++ {
		ids, err := c.QueryDiscard(1000)
		if err != nil {
			return "", nil, err
		}
		all = append(all, ids...)
		if len(ids) < 1000 {
			break
		}
	}
	c.Quit()
	return db, all, nil
}

func shortHash(s string) string {
	h := fnv.New32a()
	h.Write([]byte(s))
	return fmt.Sprintf("%08x", h.Sum32())
}

func classify(i int, hop string, err error) queue.Result {
	var se *gosmtp.SMTPError
	if errors.As(err, &se) {
		o := queue.Deferred
		if smtp.Permanent(err) {
			o = queue.FailedPerm
		}
		return queue.Result{Rcpt: i, Outcome: o, NextHop: hop, Reply: smtp.Reply(err)}
	}
	return queue.Result{Rcpt: i, Outcome: queue.Deferred, NextHop: hop, Reply: "451 4.4.2 " + hop + ": " + err.Error()}
}

func classifyAll(rcpts []int, hop string, err error) []queue.Result {
	out := make([]queue.Result, len(rcpts))
	for k, i := range rcpts {
		out[k] = classify(i, hop, err)
	}
	return out
}

func deferAll(rcpts []int, hop, reply string) []queue.Result {
	out := make([]queue.Result, len(rcpts))
	for k, i := range rcpts {
		out[k] = queue.Result{Rcpt: i, Outcome: queue.Deferred, NextHop: hop, Reply: reply}
	}
	return out
}

func failAll(rcpts []int, hop, reply string) []queue.Result {
	out := deferAll(rcpts, hop, reply)
	for k := range out {
		out[k].Outcome = queue.FailedPerm
	}
	return out
}

func remaining(rcpts []int, after int) []int {
	for k, i := range rcpts {
		if i == after {
			return rcpts[k+1:]
		}
	}
	return nil
}

func indexes(rs []queue.Result) []int {
	out := make([]int, len(rs))
	for k, r := range rs {
		out[k] = r.Rcpt
	}
	return out
}

func envelopeASCII(m *queue.Message, rcpts []int) bool {
	s := []byte(m.From)
	for _, i := range rcpts {
		s = append(s, m.Rcpts[i].Addr...)
	}
	return !bytes.ContainsFunc(s, func(r rune) bool { return r >= 0x80 })
}

func sortNotify(n []gosmtp.DSNNotify) {
	sort.Slice(n, func(i, j int) bool { return n[i] < n[j] })
}
