package mailaddr

import (
	"net/netip"
	"testing"
)

func TestIPText(t *testing.T) {
	for d, want := range map[string]bool{
		"192.0.2.1": true, "192.0.2.1.": true, "127.1": true, "10.0.0.010": true, "2130706433": true,
		"::1": true, "2001:db8::1": true, "IPv6:::1": true, "fe80::1%eth0": true, "example.123": true,
		"example.org": false, "123.example": false, "192-0-2-1.example": false, "0x7f.example": false,
		"[192.0.2.1]": false, "[IPv6:::1]": false, "": false, "xn--bcher-kva.example": false, "a.b1": false,
	} {
		if got := IPText(d); got != want {
			t.Errorf("IPText(%q) = %v, want %v", d, got, want)
		}
	}
}

// AddrLiteral and AddressLiteral write the same RFC 5321 §4.1.3 literal.
func TestAddrLiteral(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"192.0.2.1", "[192.0.2.1]"},
		{"::ffff:192.0.2.1", "[192.0.2.1]"},
		{"2001:db8::1", "[IPv6:2001:db8::1]"},
		{"fe80::1%eth0", "[IPv6:fe80::1]"},
	} {
		ip := netip.MustParseAddr(tc.in)
		lit, ok := AddressLiteral(tc.in)
		if got := AddrLiteral(ip); got != tc.want || !ok || lit != tc.want {
			t.Errorf("%s: AddrLiteral %q, AddressLiteral %q %v, want %q", tc.in, got, lit, ok, tc.want)
		}
	}
	if got := AddrLiteral(netip.Addr{}); got != "" {
		t.Errorf("zero Addr: %q", got)
	}
}
