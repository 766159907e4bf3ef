package config

import (
	"fmt"
	"net/netip"
	"strings"
)

// ParseRange reads an address range written as a CIDR prefix. A prefix
// with host bits set (10.9.9.9/0) is refused: netip would take it as its
// masked prefix (0.0.0.0/0), and the writer almost always meant the one
// address. The error says what it would have been taken as and offers
// the one-address prefix. An IPv4-mapped prefix (::ffff:10.0.0.0/104)
// is read as the IPv4 prefix it maps (10.0.0.0/8): one rule for every
// range (remote_ranges, rate_limits.exempt, a site's subnets, a server's
// source_addresses) and every spelling.
func ParseRange(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if p.Masked() != p {
		return netip.Prefix{}, hostBitsError{p}
	}
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		// The IPv4 prefix it maps: every address it is matched against
		// is unmapped (a connection's, a server's), so kept as IPv6 it
		// would load and never match.
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p, nil
}

type hostBitsError struct{ p netip.Prefix }

func (e hostBitsError) Error() string {
	a := e.p.Addr()
	return fmt.Sprintf("has host bits set: it would be taken as %s; did you mean %s/%d?", e.p.Masked(), a, a.BitLen())
}

// rangeProblem words ParseRange's error after the quoted range: a
// host-bits error as it is, any other as "is not <what>".
func rangeProblem(err error, what string) string {
	if h, ok := err.(hostBitsError); ok {
		return h.Error()
	}
	return "is not " + what
}

// NonPublicRanges are the ranges a receive connector may grant relay to
// anonymous sessions from (SMTP-3): loopback, RFC 1918 private
// networks, RFC 6598 shared address space (carrier-grade NAT),
// link-local, and IPv6 unique local addresses. Every other address is
// public: a connector that grants anonymous relay to one would relay
// mail from the internet to anywhere.
var NonPublicRanges = []netip.Prefix{
	netip.MustParsePrefix("127.0.0.0/8"),    // loopback
	netip.MustParsePrefix("10.0.0.0/8"),     // RFC 1918
	netip.MustParsePrefix("172.16.0.0/12"),  // RFC 1918
	netip.MustParsePrefix("192.168.0.0/16"), // RFC 1918
	netip.MustParsePrefix("100.64.0.0/10"),  // RFC 6598
	netip.MustParsePrefix("169.254.0.0/16"), // link-local
	netip.MustParsePrefix("::1/128"),        // loopback
	netip.MustParsePrefix("fc00::/7"),       // unique local (RFC 4193)
	netip.MustParsePrefix("fe80::/10"),      // link-local
}

// NonPublicRange reports whether every address of p is in
// NonPublicRanges. An IPv4-mapped IPv6 prefix (::ffff:10.0.0.0/104) is
// judged as the IPv4 prefix it maps.
func NonPublicRange(p netip.Prefix) bool {
	p = p.Masked()
	if a := p.Addr(); a.Is4In6() {
		if p.Bits() < 96 {
			return false
		}
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	for _, np := range NonPublicRanges {
		if np.Bits() <= p.Bits() && np.Contains(p.Addr()) {
			return true
		}
	}
	return false
}

// checkOpenRelay refuses a receive connector that would relay mail from
// a public address to any domain without authentication (SMTP-3):
// relay granted to anonymous sessions, or on an externally secured
// connector (whose every session is a transport server) to servers,
// while a remote range is public or remote_ranges is not set (every
// address). explicit says whether remote_ranges was written.
func checkOpenRelay(v *validator, rc ReceiveConnector, explicit bool, at func(p ...any) []any) {
	classes := []struct {
		name, who string
		rights    []string
	}{{"anonymous", "anonymous sessions", rc.Permissions.Anonymous}}
	if rc.ExternallySecured {
		// Every session is a transport server there (servers' rights
		// without a login); authenticated rights still need one.
		classes = append(classes, struct {
			name, who string
			rights    []string
		}{"servers", "every session (externally_secured: every session is a transport server)", rc.Permissions.Servers})
	}
	var public []string
	for _, r := range rc.RemoteRanges {
		if p, err := netip.ParsePrefix(r); err == nil && !NonPublicRange(p) {
			public = append(public, r)
		}
	}
	if explicit && len(public) == 0 {
		return
	}
	from := "from every address (remote_ranges is not set)"
	if explicit {
		from = "from public addresses (" + strings.Join(public, ", ") + ")"
	}
	for _, c := range classes {
		j := -1
		for k, r := range c.rights {
			if r == RightRelay {
				j = k
			}
		}
		if j < 0 {
			continue
		}
		v.add(fmt.Sprintf("receive connector %q grants relay to %s %s: an open relay, which sends anyone's mail anywhere (SMTP-3); "+
			"list only non-public remote_ranges (loopback, 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10, 169.254.0.0/16, fc00::/7, fe80::/10) "+
			"or grant relay to authenticated sessions", rc.Name, c.who, from), at("permissions", c.name, j)...)
		return
	}
}
