package delivery

import (
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"umbra/internal/queue"
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
	return deferAll(rcpts, hop, "451 4.4.6 routing loop: next hop "+hop+" is this server itself (it presents this server's transport database id)")
}

// A next hop of a send connector (an MX or a smart host) at an address
// one of this server's receive connectors listens on is this server
// itself: relaying would send the message round until max_hop_count
// stopped it, one stored copy per round. It is not connected to. An MX
// found in DNS fails the recipients with 5.4.6 at once (the
// destination's DNS names a server not configured to take its mail;
// retrying changes nothing, as Postfix's "mail for X loops back to
// myself"); a smart host is the operator's configuration, so the
// recipients are deferred with 4.4.6 and wait while it is fixed.
//
// The address is the test, not the name a next hop greets with: two
// servers may share a name (a default such as localhost, several
// instances on one machine), never a listening address, so another
// server is never taken for this one.

// loop is the result of a relay to h, which is this server (how says
// why it is known to be).
func (d *Deliverer) loop(st *state, g *group, h host, how string) []queue.Result {
	d.log.Error("next hop is this server itself: not relaying (check the MX records or smart hosts of the destination)",
		"next_hop", h.String(), "destination", g.dom, "send_connector", g.conn.cfg.Name, "how", how)
	what := "mail for " + g.dom + " loops back to myself: next hop " + h.String() + " " + how
	if len(g.conn.cfg.SmartHosts) > 0 {
		return deferAll(g.rcpts, h.String(), "451 4.4.6 "+what+"; check the smart hosts of send connector "+g.conn.cfg.Name)
	}
	return failAll(g.rcpts, h.String(), "554 5.4.6 "+what)
}

// dropSelf removes from hosts what this server must not relay to
// (ownBinding): among smart hosts (smart) the addresses that are this
// server; among MX hosts every host whose preference is not better than
// the best one at which this server appears — an MX host is this server
// when any of its addresses is, and a host no better than this server
// would pass the mail back to it (RFC 5321 §5.1; Postfix does the same).
// self is the host that is this server, nil when none is. With self set
// and nothing left, the mail loops back to this server; with something
// left, that is tried and a failure defers (this server is a backup),
// never bounces.
func dropSelf(bindings []string, smart bool, hosts []host) (rest []host, self *host) {
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

// IsOwnAddress reports whether a next hop at addr (ip:port) would be
// this server itself, by the rule delivery applies (ownBinding): config
// check warns of a smart host that is.
func IsOwnAddress(bindings []string, addr string) bool { return ownBinding(bindings, addr) }

// ownBinding: addr (ip:port) is one this server listens on: a binding
// with that very address, or a wildcard binding (0.0.0.0, ::, no host)
// on that port when the IP is one of this machine's interface addresses
// or a loopback address (127.0.0.0/8 and ::1 reach a wildcard listener
// of this machine) (another machine cannot have it; another server on
// this machine cannot listen on a port a wildcard binding holds). The
// unspecified address (0.0.0.0, ::) as a target is this machine's
// loopback. Another address on the same port, a loopback alias
// included, is not this server when only specific addresses are bound.
func ownBinding(bindings []string, addr string) bool {
	ip, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	hostIP, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	hostIP = hostIP.Unmap()
	if hostIP.IsUnspecified() { // connecting to it reaches this machine's loopback
		if hostIP.Is4() {
			hostIP = netip.AddrFrom4([4]byte{127, 0, 0, 1})
		} else {
			hostIP = netip.IPv6Loopback()
		}
	}
	var local []netip.Addr // interface addresses, read once when needed
	for _, b := range bindings {
		bh, bp, err := net.SplitHostPort(b)
		if err != nil || bp != port {
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
		if local == nil {
			local = interfaceAddrs()
		}
		for _, a := range local {
			if a == hostIP {
				return true
			}
		}
	}
	return false
}

// interfaceAddrs lists this machine's interface addresses (none when
// they cannot be read: then no wildcard binding matches). Every remote
// delivery asks (an edge binds 0.0.0.0:25, the port of every MX), so the
// list is read from the kernel at most every interfaceAddrsTTL.
func interfaceAddrs() []netip.Addr {
	now := time.Now()
	if c := localAddrs.Load(); c != nil && now.Sub(c.at) < interfaceAddrsTTL {
		return c.addrs
	}
	out := []netip.Addr{}
	if as, err := net.InterfaceAddrs(); err == nil {
		for _, a := range as {
			if p, err := netip.ParsePrefix(a.String()); err == nil {
				out = append(out, p.Addr().Unmap())
			}
		}
	}
	localAddrs.Store(&cachedAddrs{at: now, addrs: out})
	return out
}

// interfaceAddrsTTL is how long a reading of the interface addresses is
// used: an address added to the machine is known as its own within it.
const interfaceAddrsTTL = 10 * time.Second

type cachedAddrs struct {
	at    time.Time
	addrs []netip.Addr
}

var localAddrs atomic.Pointer[cachedAddrs]
