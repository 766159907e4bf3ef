package mailaddr

import "testing"

// OPS-43 item 4: one reading of "is this host loopback" wherever umbra
// asks it of a host it is given (the console's listen address, an
// ldap:// URL's host, a listen address, a DNS server): localhost in any
// letter case, with or without its final dot, and a literal loopback
// address in any of its spellings.
func TestOPS43LoopbackHost(t *testing.T) {
	for _, tc := range []struct {
		host string
		want bool
	}{
		{"localhost", true},
		{"localhost.", true},
		{"LOCALHOST", true},
		{"LocalHost.", true},
		{"127.0.0.1", true},
		{"127.1.2.3", true},
		{"::1", true},
		{"::ffff:127.0.0.1", true}, // the IPv4 loopback mapped into IPv6
		{"0:0::1", true},
		{"localhost..", false},
		{".localhost", false},
		{"mail.localhost", false}, // a name under localhost is a host name: resolved, not taken as loopback
		{"localhost.example", false},
		{"", false},
		{"0.0.0.0", false},
		{"::", false},
		{"192.0.2.1", false},
		{"[::1]", false}, // a host, not a host:port's bracketed form
		{"d.example", false},
	} {
		if got := LoopbackHost(tc.host); got != tc.want {
			t.Errorf("LoopbackHost(%q) = %v, want %v", tc.host, got, tc.want)
		}
	}
	for _, tc := range []struct {
		name string
		want bool
	}{{"localhost", true}, {"LOCALHOST.", true}, {"localhost..", false}, {"127.0.0.1", false}, {"x.localhost", false}} {
		if got := IsLocalhost(tc.name); got != tc.want {
			t.Errorf("IsLocalhost(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
}
