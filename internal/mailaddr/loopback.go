package mailaddr

import (
	"net/netip"
	"strings"
)

// IsLocalhost: name is the name localhost, in any letter case, with or
// without its final dot ("LOCALHOST", "localhost."). A name under it
// ("mail.localhost") is not: it is a host name like any other here.
func IsLocalhost(name string) bool {
	return strings.EqualFold(strings.TrimSuffix(name, "."), "localhost")
}

// LoopbackHost: host (a host without brackets or port, as a URL's
// Hostname or net.SplitHostPort gives it) is this machine's loopback —
// localhost (IsLocalhost) or a literal loopback address in any spelling
// (127.0.0.0/8, ::1, the IPv4 one mapped into IPv6). It is the one rule
// for every setting umbra asks it of (the console's listen address, an
// ldap:// URL sending a password in clear text, a listen address, a DNS
// server trusted for DNSSEC): no other host name is taken as loopback,
// whatever a hosts file maps it to.
func LoopbackHost(host string) bool {
	if IsLocalhost(host) {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}
