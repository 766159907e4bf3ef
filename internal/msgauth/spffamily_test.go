package msgauth

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"umbra/internal/resolver"
	"umbra/internal/resolver/dnstest"
)

// TestSPFMechanismFamily: RFC 7208 §5.6 — an ip4 mechanism matches only
// IPv4 clients, an ip6 mechanism only IPv6 ones (the test suite's
// cidr6-ip4 and cidr6-0-ip4: an IPv4 client never matches ip6, not even
// one naming ::ffff:a.b.c.d). A v4-mapped client address (a dual-stack
// socket's IPv4 client) is an IPv4 client. An ip4 mechanism naming an
// IPv6 address, or an ip6 one naming an IPv4 address, is a syntax error
// (permerror). The a and mx mechanisms compare an IPv4 client with A
// records only.
func TestSPFMechanismFamily(t *testing.T) {
	cases := []struct {
		name, record, client, want string
	}{
		{"v6mapped-exact", "v=spf1 ip6:::ffff:127.0.0.211 -all", "127.0.0.211", "fail"},
		{"v6mapped-96", "v=spf1 ip6:::ffff:0:0/96 -all", "127.0.0.211", "fail"},
		{"v6-all", "v=spf1 ip6:::/0 -all", "127.0.0.211", "fail"},
		{"v6mapped-upper", "v=spf1 IP6:::FFFF:127.0.0.211 ~all", "127.0.0.211", "softfail"},
		{"v6mapped-then-ip4", "v=spf1 -ip6:::ffff:127.0.0.211 ip4:127.0.0.211 -all", "127.0.0.211", "pass"},
		{"ip4-exact", "v=spf1 ip4:127.0.0.211 -all", "127.0.0.211", "pass"},
		{"ip4-cidr", "v=spf1 ip4:127.0.0.0/8 -all", "127.0.0.211", "pass"},
		{"mapped-client-ip4", "v=spf1 ip4:127.0.0.211 -all", "::ffff:127.0.0.211", "pass"},
		{"mapped-client-ip6", "v=spf1 ip6:::ffff:127.0.0.211 -all", "::ffff:127.0.0.211", "fail"},
		{"mapped-client-ip6-96", "v=spf1 ip6:::ffff:0:0/96 -all", "::ffff:127.0.0.211", "fail"},
		{"v6-client-ip6", "v=spf1 ip6:2001:db8::/32 -all", "2001:db8::1", "pass"},
		{"v6-client-ip6-all", "v=spf1 ip6:::/0 -all", "2001:db8::1", "pass"},
		{"v6-client-ip4-all", "v=spf1 ip4:0.0.0.0/0 -all", "2001:db8::1", "fail"},
		{"ip4-names-v6", "v=spf1 ip4:::/0 -all", "2001:db8::1", "permerror"},
		{"ip4-names-mapped", "v=spf1 ip4:::ffff:127.0.0.211 -all", "127.0.0.211", "permerror"},
		{"ip6-names-v4", "v=spf1 ip6:0.0.0.0/0 -all", "127.0.0.211", "permerror"},
	}
	// The a and mx mechanisms ask A records for an IPv4 client (RFC 7208
	// §5.3, §5.4): an AAAA record holding ::ffff:a.b.c.d is none of them.
	cases = append(cases, []struct{ name, record, client, want string }{
		{"a-mapped-aaaa", "v=spf1 a:mapped.host.test -all", "127.0.0.211", "fail"},
		{"a-mapped-aaaa-cidr", "v=spf1 a:mapped.host.test/24 -all", "127.0.0.211", "fail"},
		{"a-both", "v=spf1 a:both.host.test -all", "127.0.0.211", "pass"},
		{"a-v4", "v=spf1 a:v4.host.test -all", "127.0.0.211", "pass"},
		{"mx-mapped-aaaa", "v=spf1 mx:mxmapped.test -all", "127.0.0.211", "fail"},
		{"mx-v4", "v=spf1 mx:mxv4.test -all", "127.0.0.211", "pass"},
		{"a-v6", "v=spf1 a:v6.host.test -all", "2001:db8::1", "pass"},
	}...)
	zone := []string{
		`mapped.host.test. 300 IN AAAA ::ffff:127.0.0.211`,
		`both.host.test. 300 IN A 127.0.0.211`,
		`both.host.test. 300 IN AAAA ::ffff:127.0.0.211`,
		`v4.host.test. 300 IN A 127.0.0.211`,
		`v6.host.test. 300 IN AAAA 2001:db8::1`,
		`mxmapped.test. 300 IN MX 10 mapped.host.test.`,
		`mxv4.test. 300 IN MX 10 v4.host.test.`,
	}
	for _, c := range cases {
		zone = append(zone, zoneTXT(c.name+".test", c.record))
	}
	dns := dnstest.Start(t, zone...)
	res, err := resolver.New(resolver.Config{Servers: []string{dns.Addr}, Timeout: 2 * time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		r := checkSPF(context.Background(), res, netip.MustParseAddr(c.client), "client.test", "a@"+c.name+".test")
		if r.value != c.want {
			t.Errorf("%s: client %s, %q: %s (%s), want %s", c.name, c.client, c.record, r.value, r.reason, c.want)
		}
	}
}

// TestSPFMechanismFamilySyntax: RFC 7208 §5.6 and §4.6 — an ip6
// mechanism the syntax refuses is a permerror for every client, an IPv4
// one included: leaving out the ip6 mechanisms an IPv4 client cannot
// match must not leave out one that is no mechanism at all (the test
// suite's cidr6-129 and cidr6-bad, with an IPv4 client). Its record
// reached through include is read alike. One the syntax takes and that
// cannot match an IPv4 client is still left out (cidr6-0-ip4).
func TestSPFMechanismFamilySyntax(t *testing.T) {
	cases := []struct {
		name, record, client, want string
	}{
		{"cidr6-129", "v=spf1 ip6:::1/129 -all", "127.0.0.211", "permerror"},
		{"cidr6-129-qualified", "v=spf1 -ip6:::1/129 ip4:127.0.0.211 -all", "127.0.0.211", "permerror"},
		{"cidr6-letters", "v=spf1 ip6:::1/ab -all", "127.0.0.211", "permerror"},
		{"cidr6-empty", "v=spf1 ip6:::1/ -all", "127.0.0.211", "permerror"},
		{"cidr6-dual", "v=spf1 ip6:::1//64 -all", "127.0.0.211", "permerror"},
		{"cidr6-negative", "v=spf1 ~ip6:2001:db8::/-1 -all", "127.0.0.211", "permerror"},
		{"cidr6-bad-addr", "v=spf1 ip6:::1::2/64 -all", "127.0.0.211", "permerror"},
		{"cidr6-129-include", "v=spf1 include:inc-cidr6-129.test -all", "127.0.0.211", "permerror"},
		{"cidr6-129-v6", "v=spf1 ip6:::1/129 -all", "2001:db8::1", "permerror"},
		{"cidr6-0-ip4", "v=spf1 ip6:::ffff:1.1.1.1/0 -all", "127.0.0.211", "fail"},
		{"cidr6-128-ip4", "v=spf1 ?ip6:::1/128 ip4:127.0.0.211 -all", "127.0.0.211", "pass"},
	}
	zone := []string{zoneTXT("inc-cidr6-129.test", "v=spf1 ip6:::1/129")}
	for _, c := range cases {
		zone = append(zone, zoneTXT(c.name+".test", c.record))
	}
	dns := dnstest.Start(t, zone...)
	res, err := resolver.New(resolver.Config{Servers: []string{dns.Addr}, Timeout: 2 * time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		r := checkSPF(context.Background(), res, netip.MustParseAddr(c.client), "client.test", "a@"+c.name+".test")
		if r.value != c.want {
			t.Errorf("%s: client %s, %q: %s (%s), want %s", c.name, c.client, c.record, r.value, r.reason, c.want)
		}
	}
}

// TestSPFMechanismCIDRLeadingZero: RFC 7208 §5.6's ip4-cidr-length and
// ip6-cidr-length are "0" or a number without a leading zero: the test
// suite's cidr4-032 (ip4:1.2.3.4/032) is a permerror, though
// net.ParseCIDR, and so the SPF library, takes 032 as 32. The a and mx
// mechanisms' dual-cidr-length alike (RFC 7208 §5.3, §5.4).
func TestSPFMechanismCIDRLeadingZero(t *testing.T) {
	cases := []struct {
		name, record, client, want string
	}{
		{"cidr4-032", "v=spf1 ip4:127.0.0.211/032 -all", "127.0.0.211", "permerror"},
		{"cidr4-00", "v=spf1 ip4:0.0.0.0/00 -all", "127.0.0.211", "permerror"},
		{"cidr4-032-v6client", "v=spf1 ip4:127.0.0.211/032 -all", "2001:db8::1", "permerror"},
		{"cidr6-0128", "v=spf1 ip6:2001:db8::1/0128 -all", "2001:db8::1", "permerror"},
		{"cidr6-0128-ip4", "v=spf1 ip6:2001:db8::1/0128 ip4:127.0.0.211 -all", "127.0.0.211", "permerror"},
		{"cidr4-0", "v=spf1 ip4:0.0.0.0/0 -all", "127.0.0.211", "pass"},
		{"cidr4-32", "v=spf1 ip4:127.0.0.211/32 -all", "127.0.0.211", "pass"},
		{"cidr6-0", "v=spf1 ip6:::/0 -all", "2001:db8::1", "pass"},
		{"a-cidr4-032", "v=spf1 a:v4.host.test/032 -all", "127.0.0.211", "permerror"},
		{"a-cidr6-064", "v=spf1 -a:v4.host.test//064 ip4:127.0.0.211 -all", "127.0.0.211", "permerror"},
		{"mx-cidr4-024", "v=spf1 mx:mxv4.test/024 -all", "127.0.0.211", "permerror"},
		{"a-cidr4-24", "v=spf1 a:v4.host.test/24 -all", "127.0.0.211", "pass"},
		{"mx-cidr4-0", "v=spf1 mx:mxv4.test/0//0 -all", "127.0.0.211", "pass"},
	}
	zone := []string{
		`v4.host.test. 300 IN A 127.0.0.211`,
		`mxv4.test. 300 IN MX 10 v4.host.test.`,
	}
	for _, c := range cases {
		zone = append(zone, zoneTXT(c.name+".test", c.record))
	}
	dns := dnstest.Start(t, zone...)
	res, err := resolver.New(resolver.Config{Servers: []string{dns.Addr}, Timeout: 2 * time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		r := checkSPF(context.Background(), res, netip.MustParseAddr(c.client), "client.test", "a@"+c.name+".test")
		if r.value != c.want {
			t.Errorf("%s: client %s, %q: %s (%s), want %s", c.name, c.client, c.record, r.value, r.reason, c.want)
		}
	}
}
