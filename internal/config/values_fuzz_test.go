package config

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
)

// The value helpers behind the config and the topology file (a file an
// operator or another site writes): a size, a source address, a milter
// or dial address. Each refuses what it cannot use, never panics, and
// what it accepts is what the code using it takes: a size reads back,
// a prefix is masked and reads back, a port is one net.Dial takes.
func FuzzConfigValues(f *testing.F) {
	for _, s := range []string{"36MiB", "512 KiB", "1048576", "0", "-1", "+5KB", "4611686018427387904", "1GB", "B",
		"192.0.2.1", "::ffff:192.0.2.1", "2001:db8::/32", "10.1.2.3/8", "fe80::1%eth0",
		"inet:127.0.0.1:8891", "inet:[::1]:+25", "127.0.0.1:-0", "h.example:+0", "unix:/run/milter.sock", "unix:rel", "127.0.0.1:25", "mx.example:0025", ":25",
		"a@example.org", "@example.org", "a..b@example.org"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if n, err := ParseSize(s); err == nil {
			if n < 0 || n > 1<<62 {
				t.Fatalf("size %d from %q", n, s)
			}
			if back, err := ParseSize(strconv.FormatInt(n, 10)); err != nil || back != n {
				t.Fatalf("size %d from %q reads back as %d, %v", n, s, back, err)
			}
		}
		if p, err := ParseSourceAddress(s); err == nil {
			if !p.IsValid() || p != p.Masked() || p.Addr().Is4In6() {
				t.Fatalf("prefix %v from %q", p, s)
			}
			if back, err := ParseSourceAddress(p.String()); err != nil || back != p {
				t.Fatalf("prefix %v from %q reads back as %v, %v", p, s, back, err)
			}
		}
		if network, addr, err := MilterAddress(s); err == nil {
			if network == "tcp" {
				dialable(t, s, addr)
			} else if network != "unix" || !strings.HasPrefix(addr, "/") {
				t.Fatalf("milter %q gives %s %q", s, network, addr)
			}
		}
		if checkDialAddress(s) == nil {
			dialable(t, s, s)
		}
		if ValidRecipientEntry(s) && !strings.Contains(s, "@") {
			t.Fatalf("recipient entry %q", s)
		}
		IsDomain(s)
		IsHost(s)
		hostHint(s)
	})
}

// dialable: addr has a host and a port of digits that net.Dial takes.
func dialable(t *testing.T, s, addr string) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		t.Fatalf("%q accepted as %q: %v", s, addr, err)
	}
	if port == "" || strings.Trim(port, "0123456789") != "" {
		t.Fatalf("%q accepted with port %q, which net.Dial does not take", s, port)
	}
	if _, err := netip.ParseAddr(host); err != nil && !IsHost(host) {
		t.Fatalf("%q accepted with host %q", s, host)
	}
}
