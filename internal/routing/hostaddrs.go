package routing

import (
	"net"
	"net/netip"
	"strings"

	"umbra/internal/mailaddr"
)

// A server's Address may name its host (hub-b.corp.example:25) rather
// than give its IP address. The topology stays pure: the caller resolves
// those host names once per load (ServerHostNames, SetHostAddresses)
// before the topology is shared, and every question of "is this
// connection from that server" (ServerAt, ServerFrom, ServerAddressed)
// and "are these two servers one host" (SameHost) reads the addresses so
// found. A host name that did not resolve has none: such a server is
// known by its source_addresses alone, as before.

// ServerHostNames are the host names (not IP addresses) of the servers'
// Address, each once, lower-cased.
func (t *Topology) ServerHostNames() []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range t.servers {
		h := addressHost(s.Address)
		if h == "" {
			continue
		}
		if _, err := netip.ParseAddr(h); err == nil {
			continue
		}
		h = strings.ToLower(strings.TrimSuffix(h, "."))
		if !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	return out
}

// SetHostAddresses gives the addresses each host name of
// ServerHostNames resolved to (keys lower-cased, without a final dot).
// Call it before the topology is shared (it is immutable after that).
func (t *Topology) SetHostAddresses(m map[string][]netip.Addr) {
	t.hostAddrs = make(map[string][]netip.Addr, len(m))
	for h, as := range m {
		k := strings.ToLower(strings.TrimSuffix(h, "."))
		for _, a := range as {
			t.hostAddrs[k] = append(t.hostAddrs[k], a.Unmap())
		}
	}
}

// HostAddresses are the addresses host name h (one of ServerHostNames)
// resolved to at this topology's load (SetHostAddresses), none for a
// nil topology: a reload whose lookup of h failed for a time keeps them.
func (t *Topology) HostAddresses(h string) []netip.Addr {
	if t == nil {
		return nil
	}
	return t.hostAddrs[strings.ToLower(strings.TrimSuffix(h, "."))]
}

// addressHost is the host of a host:port address ("" when it is none).
func addressHost(address string) string {
	h, _, err := net.SplitHostPort(address)
	if err != nil {
		return ""
	}
	return h
}

// hostIPs are the IP addresses of a server's Address host: the host
// itself when it is an IP address, else what its name resolved to at
// load (none when it did not, or was not resolved).
func (t *Topology) hostIPs(address string) []netip.Addr {
	h := addressHost(address)
	if h == "" {
		return nil
	}
	if a, err := netip.ParseAddr(h); err == nil {
		return []netip.Addr{a.Unmap()}
	}
	return t.hostAddrs[strings.ToLower(strings.TrimSuffix(h, "."))]
}

// atHost: ip is an address of the host of address.
func (t *Topology) atHost(address string, ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, a := range t.hostIPs(address) {
		if a == ip {
			return true
		}
	}
	return false
}

// atHostPort reports whether hostport (HOST:PORT, as a connector or a
// record gives it) is server address addr: the same as written (both as
// mailaddr.CanonicalHostPort reads them), or an IP address that addr's
// host is or resolved to at load (hostIPs), at the same port. A host
// name hostport is not looked up.
func (t *Topology) atHostPort(addr, hostport string) bool {
	ca, ch := mailaddr.CanonicalHostPort(addr), mailaddr.CanonicalHostPort(hostport)
	if ca == ch {
		return true
	}
	_, pa, err1 := net.SplitHostPort(ca)
	h, ph, err2 := net.SplitHostPort(ch)
	if err1 != nil || err2 != nil || pa != ph {
		return false
	}
	ip, err := netip.ParseAddr(h)
	return err == nil && t.atHost(addr, ip)
}

// ServerAddressed reports whether the topology lists the addresses of
// server name (listed: its Address host is an IP address or a host name
// that resolved at load, or it has source_addresses) and whether ip is
// one of them (ok, as ServerAt). A server of the topology whose
// addresses are not listed (a host name that did not resolve, no
// source_addresses) is not listed: nothing can be said of ip.
func (t *Topology) ServerAddressed(name string, ip netip.Addr) (listed, ok bool) {
	s := t.server(name)
	if s == nil {
		return false, false
	}
	_, ok = t.ServerAt(name, ip)
	return len(t.hostIPs(s.Address)) > 0 || len(s.Sources) > 0, ok
}

// SameHost reports whether the servers a and b are listed at one host
// and port: their Address spelled alike, or their hosts sharing an IP
// address (one listed by name, the other by IP, or two names of one
// host) with the same port.
func (t *Topology) SameHost(a, b string) bool {
	sa, sb := t.server(a), t.server(b)
	if sa == nil || sb == nil {
		return false
	}
	if mailaddr.CanonicalHostPort(sa.Address) == mailaddr.CanonicalHostPort(sb.Address) {
		return true
	}
	_, pa, err1 := net.SplitHostPort(mailaddr.CanonicalHostPort(sa.Address))
	_, pb, err2 := net.SplitHostPort(mailaddr.CanonicalHostPort(sb.Address))
	if err1 != nil || err2 != nil || pa != pb {
		return false
	}
	for _, x := range t.hostIPs(sa.Address) {
		for _, y := range t.hostIPs(sb.Address) {
			if x == y {
				return true
			}
		}
	}
	return false
}
