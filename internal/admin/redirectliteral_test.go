package admin

import "testing"

// A redirect target with an address literal's "IPv6:" tag is read as
// every literal is (mailaddr.ParseLiteral, RFC 5321 §4.1.3): the tag
// holds an IPv6 address without a zone, never an IPv4 address — the
// same literal RCPT and HELO refuse is no target either.
func TestRedirectTargetLiteralTag(t *testing.T) {
	for _, to := range []string{"[IPv6:::1]", "[ipv6:2001:db8::1]:2525"} {
		if err := checkRedirectTarget(to); err != nil {
			t.Errorf("--to %s: %v", to, err)
		}
	}
	for _, to := range []string{"[IPv6:1.2.3.4]", "[IPv6:1.2.3.4]:25", "[IPv6:fe80::1%eth0]", "[IPv6:]"} {
		if err := checkRedirectTarget(to); err == nil {
			t.Errorf("--to %s: taken", to)
		}
	}
}
