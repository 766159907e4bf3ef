package delivery

import (
	"net"
	"net/netip"
	"strings"

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

// loopsToSelf refuses a relay to a next hop that greets with this
// server's own name (server.name, the name umbra greets and says EHLO
// with; ASCII case and a final dot aside): it is this server, reached
// through an MX or a smart host that points back here, and relaying
// would send the message round until max_hop_count stopped it, one
// stored copy per round. Only the exact name counts, so another server
// (a transport server of the organisation has its own name) is never
// taken for this one. An MX found in DNS fails the recipients with
// 5.4.6 at once (the destination's DNS names a server not configured to
// take its mail; retrying changes nothing, as Postfix's "mail for X
// loops back to myself"); a smart host is the operator's configuration,
// so the recipients are deferred with 4.4.6 and wait while it is fixed.
// The connection is closed, not pooled.
func (d *Deliverer) loopsToSelf(st *state, c *smtp.Client, g *group, h host) []queue.Result {
	if !sameHostName(c.PeerName, st.cfg.Hostname) {
		return nil
	}
	c.Quit()
	c.Close()
	return d.loop(st, g, h, "greets as this server ("+st.cfg.Hostname+")")
}

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

// ownBinding: addr (ip:port) is one this server listens on: a binding
// with that very address, or a wildcard binding (0.0.0.0, ::, no host)
// on that port when the IP is one of this machine's interface addresses
// (another machine cannot have it; another server on this machine
// cannot listen on a port a wildcard binding holds). Another address on
// the same port, a loopback alias included, is not this server.
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
// they cannot be read: then no wildcard binding matches).
func interfaceAddrs() []netip.Addr {
	out := []netip.Addr{}
	as, err := net.InterfaceAddrs()
	if err != nil {
		return out
	}
	for _, a := range as {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, p.Addr().Unmap())
		}
	}
	return out
}

// sameHostName: a and b are the same domain name, ASCII case and a
// final dot aside; an empty name is nobody's.
func sameHostName(a, b string) bool {
	a, b = strings.TrimSuffix(a, "."), strings.TrimSuffix(b, ".")
	if a == "" || b == "" || len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
