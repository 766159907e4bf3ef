package smtp

import (
	"testing"

	"umbra/internal/mailaddr"
)

// The "IPv6:" tag of an address literal (RFC 5321 §4.1.3) is an ABNF
// quoted string, case-insensitive (RFC 5234 §2.3): a path with
// "[ipv6:::1]" is the literal "[IPv6:::1]" is, as the host parser and
// the bare-domain branch already read it (SMTP-address syntax).
func TestIPv6TagAnyCase(t *testing.T) {
	for _, s := range []string{"x@[IPv6:::1]", "x@[ipv6:::1]", "x@[IPV6:2001:db8::1]"} {
		a, err := ParseAddress(s)
		if err != nil {
			t.Errorf("%s: %v", s, err)
			continue
		}
		if ip, ok := a.LiteralAddr(); !ok || !ip.Is6() {
			t.Errorf("%s: literal address %v %v", s, ip, ok)
		}
		if _, _, err := mailaddr.SplitHostPort(s[2:]); err != nil {
			t.Errorf("host parser refuses %s: %v", s[2:], err)
		}
	}
}
