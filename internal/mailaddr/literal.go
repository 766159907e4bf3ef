package mailaddr

import (
	"net/netip"
	"strings"
)

// LiteralError is why a text in brackets is no address literal. Reason
// names what is wrong in fixed words of printable ASCII, never the text
// it was given: an SMTP reply carries it.
type LiteralError struct{ Reason string }

func (e *LiteralError) Error() string { return "invalid address literal: " + e.Reason }

// ParseLiteral reads an RFC 5321 §4.1.3 address literal, brackets
// included, and returns the address it holds. It is the one reader of a
// literal, wherever one stands in a domain's or a host's place — a
// recipient's or sender's domain (RCPT, MAIL, pickup files, a check's
// added recipient, route explain) and the EHLO/HELO argument (the
// greeting syntax and the HELO checks) — so that none takes a literal
// another refuses:
//
//   - "[" IPv4 "]": four decimal numbers 0–255 of one to three digits
//     each (Snum; "[1.2.3.04]" is 1.2.3.4, read as decimal);
//   - "[IPv6:" IPv6 "]": the tag in any case (an ABNF quoted string,
//     RFC 5234 §2.3; CutIPv6Tag), then an IPv6 address, its last 32 bits
//     in IPv4 form allowed ("::ffff:192.0.2.1"), no zone. An IPv4 address
//     after the tag ("[IPv6:1.2.3.4]") is no IPv6 address, and an IPv6
//     address without the tag ("[::1]") is no literal;
//   - no other tag is registered (General-address-literal): refused.
func ParseLiteral(s string) (netip.Addr, error) {
	if !strings.HasPrefix(s, "[") {
		return netip.Addr{}, &LiteralError{"it does not start with \"[\""}
	}
	inner, after, ok := strings.Cut(s[1:], "]")
	switch {
	case !ok:
		return netip.Addr{}, &LiteralError{"a \"[\" without its \"]\""}
	case after != "":
		return netip.Addr{}, &LiteralError{"text after the closing \"]\""}
	case inner == "":
		return netip.Addr{}, &LiteralError{"empty brackets"}
	}
	if v6, tagged := CutIPv6Tag(inner); tagged || EqualFold(inner, "IPv6:") {
		a, err := netip.ParseAddr(v6)
		switch {
		case err == nil && a.Is6() && a.Zone() != "", err != nil && strings.Contains(v6, "%"):
			return netip.Addr{}, &LiteralError{"[IPv6:...] holds an IPv6 address without a zone (%)"}
		case err != nil || !a.Is6():
			return netip.Addr{}, &LiteralError{"[IPv6:...] holds an IPv6 address (RFC 5321 section 4.1.3), not an IPv4 address or other text"}
		}
		return a, nil
	}
	if strings.ContainsRune(inner, ':') {
		if _, err := netip.ParseAddr(inner); err == nil {
			return netip.Addr{}, &LiteralError{"an IPv6 address is written with its tag, [IPv6:...] (RFC 5321 section 4.1.3)"}
		}
		return netip.Addr{}, &LiteralError{"no tag but IPv6: is registered (RFC 5321 section 4.1.3); an IPv4 literal is [192.0.2.1], an IPv6 one [IPv6:2001:db8::1]"}
	}
	parts := strings.Split(inner, ".")
	if len(parts) != 4 {
		return netip.Addr{}, &LiteralError{"an IPv4 literal holds four numbers separated by dots ([192.0.2.1])"}
	}
	var b [4]byte
	for i, p := range parts {
		n := 0
		for j := 0; j < len(p); j++ {
			if p[j] < '0' || p[j] > '9' {
				n = 256
				break
			}
			n = n*10 + int(p[j]-'0')
		}
		if p == "" || len(p) > 3 || n > 255 {
			return netip.Addr{}, &LiteralError{"each number of an IPv4 literal is 0 to 255, in one to three digits"}
		}
		b[i] = byte(n)
	}
	return netip.AddrFrom4(b), nil
}
