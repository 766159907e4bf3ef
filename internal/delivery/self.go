package delivery

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"

	"umbra/internal/config"
	"umbra/internal/mailaddr"
	"umbra/internal/queue"
	"umbra/internal/resolver"
	"umbra/internal/smtp"
)

// SetDatabaseID tells the deliverer this server's transport database id,
// so that it recognises a next hop that is this server itself (selfRelay).
func (d *Deliverer) SetDatabaseID(id string) { d.selfDB.Store(&id) }

// selfRelay refuses a relay whose next hop is this server itself: the
// shadow session's peer presents this server's own transport database id
// (a copy-pasted server address in the topology, a smart host that points
// back here). Relaying would only send the message round in a loop until
// the hop limit; the recipients are deferred with a 4.4.6 (routing loop)
// reply that names the hop, so the operator can fix the address while
// the message waits, and the connection is closed, not pooled.
func (d *Deliverer) selfRelay(c *smtp.Client, hop string, rcpts []int) []queue.Result {
	self := d.selfDB.Load()
	if self == nil || *self == "" || c.ShadowDB != *self {
		return nil
	}
	d.log.Error("next hop is this server itself: not relaying (check the server addresses in the topology and smart hosts)",
		"next_hop", hop, "database_id", *self)
	c.Close()
	return deferAll(rcpts, hop, queue.SelfRelayReply(hop))
}

// A next hop of a send connector (an MX or a smart host) at an address
// one of this server's receive connectors listens on is this server
// itself: relaying would send the message round until max_hop_count
// stopped it, one stored copy per round. It is not connected to. An MX
// found in DNS fails the recipients with 5.4.6 at once (the
// destination's DNS names a server not configured to take its mail;
// retrying changes nothing); a smart host is the operator's configuration, so the
// recipients are deferred with 4.4.6 and wait while it is fixed.
//
// The address is the test, not the name a next hop greets with: two
// servers may share a name (a default such as localhost, several
// instances on one machine), never a listening address, so another
// server is never taken for this one.

// selfHow says how a next hop is known to be this server.
const selfHow = "is an address this server listens on"

// selfSays is the one sentence that says h is this server, naming the
// address that matched: delivery's reply and log, the DSN and route
// explain (SelfCheck.Says) all use it. Only an address decides (an MX
// host carrying this server's name is looked up first, mxlookup.go, and
// is this server only when that finds one of its addresses).
func selfSays(h host) string {
	if unspecifiedHop(h.addr) {
		return "next hop " + h.String() + " " + selfHowUnspecified
	}
	return "next hop " + h.String() + " " + selfHow
}

// selfHowUnspecified says it for the unspecified address (0.0.0.0, ::,
// ::ffff:0.0.0.0), which is a loop whatever this server listens on.
const selfHowUnspecified = "is the unspecified address, which connects to this machine itself (its bound source address, or loopback)"

// unspecifiedHop: addr (ip:port) is the unspecified address.
func unspecifiedHop(addr string) bool {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(h)
	return err == nil && ip.Unmap().IsUnspecified()
}

// nothingLeft decides for a destination whose hosts dropSelf all
// removed (self is this server): MX hosts better than this server whose
// addresses could not be looked up decide, as they would without this
// server among the hosts (a temporary failure defers, a missing address
// bounces naming it), not the loop; else the mail loops back here
// (loops): an MX fails with 554 5.4.6, a smart host defers with 451 4.4.6.
func nothingLeft(dom, conn string, smart bool, self host, unresolved []unresolvedHost) (reply string, permanent, loops bool) {
	var better []resolver.HostLookup
	for _, u := range unresolved {
		if u.pref < self.pref {
			better = append(better, u.HostLookup)
		}
	}
	if len(better) > 0 && !smart {
		reply, permanent = resolver.NoAddress(dom, false, better)
		return reply, permanent, false
	}
	what := "mail for " + dom + " loops back to myself: " + selfSays(self)
	if smart {
		return queue.LoopsBackReply(what, conn), false, true
	}
	return "554 5.4.6 " + what, true, true
}

// dropSelf removes from hosts what this server must not relay to
// (ownBinding): among smart hosts (smart) the addresses that are this
// server; among MX hosts every host whose preference is not better than
// the best one at which this server appears — an MX host is this server
// when any of its addresses is, and a host no better than this server
// would pass the mail back to it (RFC 5321 §5.1).
// self is the host that is this server, nil when none is. With self set
// and nothing left, the mail loops back to this server; with something
// left, that is tried and a failure defers (this server is a backup),
// never bounces.
//
// Among MX hosts the unspecified address (0.0.0.0, ::) is dropped
// alone: it is never connected to (it reaches this machine itself), but
// DNS junk of that kind does not make its host this server — the host's
// other addresses and the MX hosts after it are tried. Only when it is
// all that is left is it self (the mail loops back: nothingLeft). A
// smart host at it is this server (the operator's configuration).
func dropSelf(bindings []string, smart bool, hosts []host) (rest []host, self *host) {
	var unspec *host // the first unspecified MX address, dropped alone
	if !smart {
		real := make([]host, 0, len(hosts))
		for i := range hosts {
			if unspecifiedHop(hosts[i].addr) {
				if unspec == nil {
					unspec = &hosts[i]
				}
				continue
			}
			real = append(real, hosts[i])
		}
		if unspec != nil {
			rest, self = dropSelf(bindings, smart, real)
			if self == nil && len(rest) == 0 {
				self = unspec
			}
			return rest, self
		}
	}
	best := 0
	for i := range hosts {
		if ownBinding(bindings, hosts[i].addr) && (self == nil || hosts[i].pref < best) {
			self, best = &hosts[i], hosts[i].pref
		}
	}
	if self == nil {
		return hosts, nil
	}
	selfNames := map[string]bool{}
	own := make([]bool, len(hosts))
	for i, h := range hosts {
		if own[i] = ownBinding(bindings, h.addr); own[i] {
			selfNames[h.name] = true
		}
	}
	for i, h := range hosts {
		switch {
		case smart && own[i]:
		case !smart && (h.pref >= best || selfNames[h.name]):
		default:
			rest = append(rest, h)
		}
	}
	return rest, self
}

// SelfCheck is what delivery finds, before it connects, about the next
// hops of a send connector for a destination: which of them are this
// server (dropSelf, ownBinding) and whether the mail loops back here
// (CheckSelf; config check and route explain tell the operator).
type SelfCheck struct {
	// Self is the host that is this server (name[ip]:port), "" when none is.
	Self string `json:"self,omitempty"`
	// Says is the sentence delivery's reply and log use for it
	// (selfSays: the address that matched).
	Says string `json:"says,omitempty"`
	// Skipped are the hosts delivery does not connect to: those that are
	// this server, and MX hosts no better than it.
	Skipped []string `json:"skipped,omitempty"`
	// Tried are the hosts delivery tries.
	Tried []string `json:"tried,omitempty"`
	// Loops: no host is left, the mail would loop back to this server;
	// Reply is what delivery answers then (a smart host defers, an MX
	// bounces), or, when better MX hosts have no address, what their
	// lookups make it answer.
	Loops bool   `json:"loops,omitempty"`
	Reply string `json:"reply,omitempty"`
	// Unresolved names the hosts whose addresses could not be looked up
	// (not checked).
	Unresolved []string `json:"unresolved,omitempty"`
	// Error: the MX lookup failed or found no mail host; nothing was checked.
	Error string `json:"error,omitempty"`
	// HostsGiven: the check is of the smart hosts the caller gave
	// (CheckSelfHosts), not of the connector's own. A daemon of an older
	// release, which ignores the hosts given, does not say so: its
	// answer is not taken as one about them (route explain --topology
	// FILE; rr ops39 F3).
	HostsGiven bool `json:"hosts_given,omitempty"`
}

// CheckSelf looks up the next hops of mail for dom through send
// connector conn (its smart hosts, or dom's MX hosts; port 0 is 25) as
// delivery does (dom in either form of an internationalised domain), and applies delivery's rule for hosts that are this
// server (bindings: the receive connectors' bindings).
func CheckSelf(ctx context.Context, r Resolver, hostname string, bindings []string, conn string, smartHosts []string, port, maxAddresses int, dom string) SelfCheck {
	var out SelfCheck
	// The domain as delivery's plan keys it (mailaddr.AddrKey): ASCII
	// case, no final dot, an internationalised one as its A-label, the
	// name DNS holds.
	dom = mailaddr.NameKey(dom)
	if _, ok := addressDomain(dom); ok {
		// Delivery fails it before any smart host or MX (addressDomain):
		// so does this check (rt36 front F2's sibling).
		out.Error = dom + " is not a domain name (an address): delivery fails it with 550 5.1.2 and looks nothing up"
		return out
	}
	names, prefs, _, err := nextHopNames(ctx, r, smartHosts, dom)
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, errNullMX):
		out.Error = "domain " + dom + " accepts no mail (null MX)"
		return out
	case err == nil, errors.As(err, &dnsErr) && dnsErr.IsNotFound:
	default:
		out.Error = "MX lookup for " + dom + " failed: " + err.Error()
		return out
	}
	if port == 0 {
		port = config.DefaultSMTPPort
	}
	src := newHostSource(r, names, prefs, strconv.Itoa(port), hostname, bindings, maxAddresses, config.DefaultMXLookupTimeout, config.DefaultMXLookupTimeout)
	for src.more() { // what one attempt may look up, no more (mxlookup.go)
		if src.fill(ctx, nil); len(src.take()) == 0 {
			break
		}
	}
	hosts, unresolved := src.hosts, src.unresolved
	if src.cut != "" {
		out.Unresolved = append(out.Unresolved, "not looked up: "+src.cut)
	}
	for _, u := range unresolved {
		out.Unresolved = append(out.Unresolved, u.Host+": "+u.Err.Error())
	}
	smart := len(smartHosts) > 0
	rest, self := dropSelf(bindings, smart, hosts)
	if self == nil {
		self = src.self // found by its address before its turn (mxlookup.go)
	}
	kept := map[string]bool{}
	for _, h := range rest {
		out.Tried = append(out.Tried, h.String())
		kept[h.String()] = true
	}
	for _, h := range hosts {
		if !kept[h.String()] { // this server, an MX no better, an unspecified MX address
			out.Skipped = append(out.Skipped, h.String())
		}
	}
	if self == nil {
		return out
	}
	out.Self, out.Says = self.String(), selfSays(*self)
	if len(rest) == 0 {
		out.Reply, _, out.Loops = nothingLeft(dom, conn, smart, *self, unresolved)
	}
	return out
}

// CheckSelf is CheckSelf for the send connector named connector as this
// deliverer builds it (the configuration's, or the topology's smart
// hosts) and mail for domain: its resolver, its bindings (route explain
// asks the daemon).
func (d *Deliverer) CheckSelf(ctx context.Context, connector, domain string) SelfCheck {
	st := d.st.Load()
	if st.conns[connector] == nil && st.cfg.Topology == nil {
		return SelfCheck{Error: "no send connector " + connector}
	}
	sc := st.topoConnector(connector)
	return CheckSelf(ctx, st.cfg.Resolver, st.cfg.Hostname, st.cfg.OwnBindings, sc.cfg.Name, sc.cfg.SmartHosts, sc.cfg.Port, sc.cfg.MXAddressLimit, domain)
}

// CheckSelfHosts is CheckSelf for the send connector named connector
// with smartHosts as its smart hosts (none: MX) — those of a topology
// this deliverer does not run (route explain --topology FILE) — and
// the rest of its settings (port, MX limit) as this deliverer has them:
// its resolver, its bindings (rt39 F1).
func (d *Deliverer) CheckSelfHosts(ctx context.Context, connector string, smartHosts []string, domain string) SelfCheck {
	st := d.st.Load()
	sc := st.topoConnector(connector)
	out := CheckSelf(ctx, st.cfg.Resolver, st.cfg.Hostname, st.cfg.OwnBindings, sc.cfg.Name, smartHosts, sc.cfg.Port, sc.cfg.MXAddressLimit, domain)
	out.HostsGiven = true
	return out
}

// ownBinding: addr (ip:port) is one this server listens on: a binding
// with that very address, or a wildcard binding (0.0.0.0, ::, no host)
// on that port when the IP is one of this machine's interface addresses
// or a loopback address (127.0.0.0/8 and ::1 reach a wildcard listener
// of this machine) (another machine cannot have it; another server on
// this machine cannot listen on a port a wildcard binding holds). The
// unspecified address (0.0.0.0, ::, ::ffff:0.0.0.0) as a target is
// always this server, on any port: Linux connects it to this machine
// itself — to the bound source address when server.source_address is
// set, which may well be a binding of this server's (rt27c F2: it was
// taken for 127.0.0.1 only, passed, reached this server's own listener,
// was refused 550 as a relay and the message failed for good); no
// next hop is ever meant by it. Another address on the same port, a
// loopback alias included, is not this server when only specific
// addresses are bound.
func ownBinding(bindings []string, addr string) bool {
	ip, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	port, ok := portNumber(portText)
	if !ok {
		return false
	}
	hostIP, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	hostIP = hostIP.Unmap()
	if hostIP.IsUnspecified() { // connecting to it reaches this machine itself
		return true
	}
	for _, b := range bindings {
		bh, bp, err := net.SplitHostPort(b)
		if n, ok := portNumber(bp); err != nil || !ok || n != port {
			continue
		}
		if bip, err := netip.ParseAddr(bh); err == nil && !bip.IsUnspecified() {
			if bip.Unmap() == hostIP {
				return true
			}
			continue
		}
		if bh != "" && bh != "0.0.0.0" && bh != "::" {
			continue // a host name: not compared
		}
		if hostIP.IsLoopback() {
			return true
		}
		if isOwnAddr(hostIP) {
			return true
		}
	}
	return false
}

// portNumber is the port the dialer connects to for p: it reads
// leading zeros, a sign and a service name ("smtp") as the number they
// stand for, so a port written so is compared as that number (rt35 F5:
// a redirect to "HOST:056025" reached this server's own listener).
func portNumber(p string) (int, bool) {
	n, err := net.LookupPort("tcp", p)
	return n, err == nil
}

// isOwnAddr: ip is an address of this machine, asked of the kernel
// without netlink (config.LocalAddr), which the systemd units refuse:
// net.InterfaceAddrs failed there and read as "no address is this
// machine's", so a wildcard-bound edge took its own address for another
// next hop (rt23c F3). A kernel that cannot be asked is not read as
// "not this machine": the address is taken for this server's, so its
// mail waits with the loop reply instead of being sent to itself, and
// the failure is logged (once a minute at most).
func isOwnAddr(ip netip.Addr) bool {
	own, err := config.LocalAddr(ip)
	if err != nil {
		if now := time.Now().Unix(); localAddrLogged.Load()+60 <= now {
			localAddrLogged.Store(now)
			slog.Warn("whether an address is this machine's could not be asked of the kernel; taken as this server's", "addr", ip.String(), "err", err.Error())
		}
		return true
	}
	return own
}

var localAddrLogged atomic.Int64

// RedirectSelf says why an operator's queue redirect to target (host or
// host:port, as the admin API checked it) would loop back here, "" when
// it would not. A redirect makes target the only smart host of its mail
// (redirectConnector), so a target that is this server defers every
// message it takes with 451 4.4.6: refused before anything is moved. A
// target without a port is checked at every port a redirect may use
// (25 and each send connector's port: the one of the connector that
// routes the message's domain).
func (d *Deliverer) RedirectSelf(ctx context.Context, target string) string {
	st := d.st.Load()
	ports := []int{config.DefaultSMTPPort}
	if _, port, _ := mailaddr.SplitHostPort(target); port == "" {
		for _, sc := range st.conns {
			ports = append(ports, sc.cfg.Port)
		}
	}
	for _, p := range ports {
		c := CheckSelf(ctx, st.cfg.Resolver, st.cfg.Hostname, st.cfg.OwnBindings, "redirect", []string{target}, p, 0, "")
		if c.Self != "" && c.Loops {
			return "redirect target " + target + ": " + c.Says +
				": the redirected mail would loop back here and wait with 451 4.4.6"
		}
	}
	return ""
}
