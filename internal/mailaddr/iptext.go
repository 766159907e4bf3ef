package mailaddr

import (
	"net/netip"
	"strings"
)

// IPText reports whether domain (a final dot allowed), written without
// brackets, is IP-address text rather than a name: an address netip
// parses (192.0.2.1, ::1, an IPv6 address with a zone), anything with a
// colon, or a name whose last label is all digits (127.1, 10.0.0.010:
// forms a host resolver reads as an address). No domain can be one — a
// top-level label is never all-numeric (RFC 1123 §2.1, RFC 3696 §2) —
// so mail to it is refused, and it is never looked up: a resolver
// "finds" such a name as the address it spells, which no routing or
// literal policy allowed. An address literal ([192.0.2.1]) is not IP
// text; it keeps its own rule.
func IPText(domain string) bool {
	if strings.HasPrefix(domain, "[") {
		return false
	}
	d := strings.TrimSuffix(domain, ".")
	if d == "" {
		return false
	}
	if strings.ContainsRune(d, ':') {
		return true
	}
	if _, err := netip.ParseAddr(d); err == nil {
		return true
	}
	last := d[strings.LastIndexByte(d, '.')+1:]
	return last != "" && strings.Trim(last, "0123456789") == ""
}

// AddressLiteral writes the IP address s as RFC 5321 §4.1.3 writes one
// in a domain's place: "[192.0.2.1]", "[IPv6:2001:db8::1]" (an
// IPv4-mapped address in its IPv4 form, no zone); ok false when s is no
// IP address.
func AddressLiteral(s string) (lit string, ok bool) {
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return "", false
	}
	return AddrLiteral(ip), true
}

// AddrLiteral is AddressLiteral for an address already parsed; "" for
// the zero Addr.
func AddrLiteral(ip netip.Addr) string {
	if !ip.IsValid() {
		return ""
	}
	if ip = ip.Unmap(); ip.Is6() {
		return "[IPv6:" + ip.WithZone("").String() + "]"
	}
	return "[" + ip.String() + "]"
}

// CutIPv6Tag returns s without a leading "IPv6:" tag, the tag of an
// IPv6 address literal (RFC 5321 §4.1.3), and whether it had one. The
// tag is an ABNF quoted string, so any case is the tag (RFC 5234 §2.3):
// every reader of an address literal strips it here, one way.
func CutIPv6Tag(s string) (string, bool) {
	if len(s) > 5 && EqualFold(s[:5], "IPv6:") {
		return s[5:], true
	}
	return s, false
}
