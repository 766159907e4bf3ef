package mailaddr

import "testing"

// HOST[:PORT] as every setting and command that takes it reads it: a
// bracketed IPv6 address with or without a port, a bare one, a name or
// IPv4 address with or without a port (rt18c-F8: --to '[::1]' was
// refused "missing port in address" while ::1 was taken).
func TestSplitHostPort(t *testing.T) {
	for _, c := range []struct{ in, host, port string }{
		{"[::1]", "::1", ""},
		{"[::1]:2525", "::1", "2525"},
		{"::1", "::1", ""},
		{"2001:db8::1", "2001:db8::1", ""},
		{"127.0.0.131", "127.0.0.131", ""},
		{"127.0.0.131:25", "127.0.0.131", "25"},
		{"mx.example", "mx.example", ""},
		{"mx.example:587", "mx.example", "587"},
		{"[IPv6:::1]", "::1", ""},
	} {
		h, p, err := SplitHostPort(c.in)
		if err != nil || h != c.host || p != c.port {
			t.Errorf("SplitHostPort(%q) = %q, %q, %v; want %q, %q", c.in, h, p, err, c.host, c.port)
		}
	}
	for _, bad := range []string{"", "[::1", "[::1]x", "[::1]:", "mx.example:", "a:b:c", "[mx.example]", ":25"} {
		if h, p, err := SplitHostPort(bad); err == nil {
			t.Errorf("SplitHostPort(%q) = %q, %q: taken", bad, h, p)
		}
	}
}
