package resolver_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"umbra/internal/resolver"
	"umbra/internal/resolver/dnstest"
)

func newClient(t *testing.T, addr string) *resolver.Client {
	t.Helper()
	c, err := resolver.New(resolver.Config{Servers: []string{addr}, Timeout: time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func dnsErr(t *testing.T, err error) *net.DNSError {
	t.Helper()
	var de *net.DNSError
	if !errors.As(err, &de) {
		t.Fatalf("error %v (%T) is not a *net.DNSError", err, err)
	}
	return de
}

// EDGE: one resolver for every lookup, with net.Resolver's error flags.
func TestLookups(t *testing.T) {
	srv := dnstest.Start(t,
		"example.test. 300 IN MX 20 mx2.example.test.",
		"example.test. 300 IN MX 10 mx1.example.test.",
		"example.test. 300 IN TXT \"v=spf1 \" \"-all\"",
		"mx1.example.test. 300 IN A 127.0.0.10",
		"mx1.example.test. 300 IN AAAA ::1",
		"alias.example.test. 300 IN CNAME mx1.example.test.",
		"10.0.0.127.in-addr.arpa. 300 IN PTR mx1.example.test.",
	)
	c := newClient(t, srv.Addr)
	ctx := context.Background()

	mx, err := c.LookupMX(ctx, "example.test")
	if err != nil || len(mx) != 2 || mx[0].Host != "mx1.example.test." || mx[1].Pref != 20 {
		t.Fatalf("MX = %v, %v", mx, err)
	}
	txt, err := c.LookupTXT(ctx, "example.test")
	if err != nil || len(txt) != 1 || txt[0] != "v=spf1 -all" {
		t.Fatalf("TXT = %q, %v", txt, err)
	}
	hosts, err := c.LookupHost(ctx, "alias.example.test")
	if err != nil || strings.Join(hosts, ",") != "127.0.0.10,::1" {
		t.Fatalf("host via CNAME = %v, %v", hosts, err)
	}
	names, err := c.LookupAddr(ctx, "127.0.0.10")
	if err != nil || len(names) != 1 || names[0] != "mx1.example.test." {
		t.Fatalf("PTR = %v, %v", names, err)
	}

	_, err = c.LookupMX(ctx, "nowhere.test")
	if de := dnsErr(t, err); !de.IsNotFound || de.IsTemporary {
		t.Fatalf("NXDOMAIN: %+v", de)
	}
	_, err = c.LookupTXT(ctx, "mx1.example.test")
	if de := dnsErr(t, err); !de.IsNotFound || de.IsTemporary {
		t.Fatalf("NODATA: %+v", de)
	}
	srv.Fail("broken.test")
	_, err = c.LookupTXT(ctx, "x.broken.test")
	if de := dnsErr(t, err); de.IsNotFound || !de.IsTemporary {
		t.Fatalf("SERVFAIL: %+v", de)
	}
}

// A server that does not answer is a temporary error, never a denial.
func TestUnreachableIsTemporary(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0") // bound, never read
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	c, err := resolver.New(resolver.Config{Servers: []string{pc.LocalAddr().String()}, Timeout: 200 * time.Millisecond, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.LookupMX(context.Background(), "example.test")
	if de := dnsErr(t, err); de.IsNotFound || !de.IsTemporary {
		t.Fatalf("timeout: %+v", de)
	}
}

// A large answer is truncated over UDP and fetched again over TCP.
func TestTruncatedRetriesOverTCP(t *testing.T) {
	var recs []string
	for i := range 60 {
		recs = append(recs, fmt.Sprintf("big.test. 300 IN TXT \"record number %d with some padding to make it long enough\"", i))
	}
	srv := dnstest.Start(t, recs...)
	a, err := newClient(t, srv.Addr).Lookup(context.Background(), "big.test", dns.TypeTXT)
	if err != nil || len(a.RRs) != 60 {
		t.Fatalf("got %d records, %v", len(a.RRs), err)
	}
}

// Servers are asked in order: one that fails (SERVFAIL) or does not
// answer passes the question to the next; a denial is final.
func TestServersInOrder(t *testing.T) {
	broken := dnstest.Start(t, "a.test. 60 IN A 127.0.0.1")
	broken.Fail(".")
	silent := dnstest.Start(t)
	silent.Drop(".")
	good := dnstest.Start(t, "a.test. 60 IN A 127.0.0.2")
	c, err := resolver.New(resolver.Config{Servers: []string{broken.Addr, silent.Addr, good.Addr}, Timeout: 200 * time.Millisecond, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	hosts, err := c.LookupHost(context.Background(), "a.test")
	if err != nil || len(hosts) != 1 || hosts[0] != "127.0.0.2" {
		t.Fatalf("hosts %v, %v", hosts, err)
	}
	denying := dnstest.Start(t)
	c, _ = resolver.New(resolver.Config{Servers: []string{denying.Addr, good.Addr}, Timeout: 200 * time.Millisecond, Attempts: 2})
	_, err = c.LookupHost(context.Background(), "a.test")
	if de := dnsErr(t, err); !de.IsNotFound {
		t.Fatalf("a denial from the first server: %+v", de)
	}
	if good.Queries() != 2 { // A and AAAA in the first round only
		t.Fatalf("the next server was asked after a denial: %d queries", good.Queries())
	}
}

// A name longer than a domain name may be (a TLSA or MTA-STS name built
// from a long host, an SPF expansion) cannot have records: it is not
// found, at once and without a query — not a temporary failure, which
// would defer the mail for ever.
func TestOverlongNameNotFound(t *testing.T) {
	srv := dnstest.Start(t, "a.test. 60 IN A 127.0.0.1")
	c := newClient(t, srv.Addr)
	long := strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 63) + ".test"
	for _, name := range []string{"_25._tcp." + long, strings.Repeat("x", 64) + ".test", "a..test"} {
		_, err := c.Lookup(context.Background(), name, dns.TypeTLSA)
		if de := dnsErr(t, err); !de.IsNotFound || de.IsTemporary {
			t.Errorf("%s: %+v, want not found", name, de)
		}
	}
	if n := srv.Queries(); n != 0 {
		t.Errorf("%d queries sent for names that cannot exist", n)
	}
	if _, err := c.LookupIPAddr(context.Background(), "a.test"); err != nil {
		t.Fatalf("a valid name: %v", err)
	}
}

// An address literal ("[192.0.2.1]", a recipient's or a sender's
// domain) is no domain name: not found, and never sent to DNS.
func TestAddressLiteralNeverAsked(t *testing.T) {
	srv := dnstest.Start(t, "a.test. 60 IN A 127.0.0.1")
	c := newClient(t, srv.Addr)
	for _, name := range []string{"[127.0.0.1]", "[IPv6:::1]", "[ipv6:::ffff:127.0.0.1]"} {
		for _, qt := range []uint16{dns.TypeMX, dns.TypeA, dns.TypeTXT} {
			_, err := c.Lookup(context.Background(), name, qt)
			if de := dnsErr(t, err); !de.IsNotFound || de.IsTemporary {
				t.Errorf("%s: %+v, want not found", name, de)
			}
		}
		if _, err := c.LookupMX(context.Background(), name); err == nil {
			t.Errorf("LookupMX(%s) found something", name)
		}
		if _, err := c.LookupIPAddr(context.Background(), name); err == nil {
			t.Errorf("LookupIPAddr(%s) found something", name)
		}
	}
	if n := srv.Queries(); n != 0 {
		t.Errorf("%d queries sent for address literals", n)
	}
}

// A mail domain that is IP-address text ("192.0.2.1", "127.1" — a
// sender's, or one a check was asked about) is no domain name: no MX,
// TXT or other record is asked for it. Its A lookup is the address it
// spells only for LookupIPAddr's callers that name a host by address
// (smart hosts): they never reach DNS either.
func TestIPTextNeverAsked(t *testing.T) {
	srv := dnstest.Start(t, "a.test. 60 IN A 127.0.0.1")
	c := newClient(t, srv.Addr)
	for _, name := range []string{"192.0.2.1", "192.0.2.1.", "127.1", "2130706433", "::1", "example.123"} {
		for _, qt := range []uint16{dns.TypeMX, dns.TypeTXT, dns.TypeA, dns.TypeTLSA} {
			_, err := c.Lookup(context.Background(), name, qt)
			if de := dnsErr(t, err); !de.IsNotFound || de.IsTemporary {
				t.Errorf("%s: %+v, want not found", name, de)
			}
		}
		if _, err := c.LookupMX(context.Background(), name); err == nil {
			t.Errorf("LookupMX(%s) found something", name)
		}
	}
	if n := srv.Queries(); n != 0 {
		t.Errorf("%d queries sent for IP-address text", n)
	}
}

// EDGE: a TXT record's strings are the bytes published, not the DNS
// presentation format the DNS library keeps them in: a tab is a tab
// (not "\009"), a quote or backslash is itself, 8-bit bytes stay bytes.
// Every TXT reader (SPF, DKIM keys, DMARC, MTA-STS, TLS-RPT) parses by
// its grammar, in which "\009" is no white space (rt22b M1, L1).
func TestTXTBytes(t *testing.T) {
	srv := dnstest.Start(t,
		`tab.test. 300 IN TXT "v=DMARC1;\009p=reject\009" "; rua=\"x\\y\" \195\169\013\010end"`,
	)
	c := newClient(t, srv.Addr)
	txt, err := c.LookupTXT(context.Background(), "tab.test")
	want := "v=DMARC1;\tp=reject\t; rua=\"x\\y\" \u00e9\r\nend"
	if err != nil || len(txt) != 1 || txt[0] != want {
		t.Fatalf("TXT = %q, %v; want %q", txt, err, want)
	}
	cache := resolver.NewCache(c, resolver.CacheConfig{})
	for i := 0; i < 2; i++ {
		txt, err = cache.LookupTXT(context.Background(), "tab.test")
		if err != nil || len(txt) != 1 || txt[0] != want {
			t.Fatalf("cached TXT (%d) = %q, %v", i, txt, err)
		}
	}
}
