package main

import (
	"net/netip"
	"testing"
)

// A held record's address names a departed server's own host only as
// an IP literal with its port; a record through a send connector, a
// host name or another address names nothing (smtp departed.go binds a
// session by it).
func TestHeldAddrIs(t *testing.T) {
	ip := netip.MustParseAddr("127.0.0.139")
	for _, c := range []struct {
		addr string
		ip   netip.Addr
		want bool
	}{
		{"127.0.0.139:25", ip, true},
		{"127.0.0.139:25", netip.MustParseAddr("::ffff:127.0.0.139"), true},
		{"[::1]:25", netip.MustParseAddr("::1"), true},
		{"127.0.0.139:25 via out", ip, false},
		{"hub-b.example:25", ip, false},
		{"127.0.0.140:25", ip, false},
		{"", ip, false},
	} {
		if got := heldAddrIs(c.addr, c.ip); got != c.want {
			t.Errorf("heldAddrIs(%q, %v) = %v, want %v", c.addr, c.ip, got, c.want)
		}
	}
}
