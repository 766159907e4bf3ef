package tlspolicy

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"umbra/internal/resolver"
	"umbra/internal/resolver/dnstest"
)

// route explain tells what delivery does with a destination's hosts:
// the addresses found (through the CNAME chain followed), or the lookup
// that failed and the reply the mail gets — the MX host named, 5.4.4,
// not "domain not found".
func TestExplainMXHostAddresses(t *testing.T) {
	srv := dnstest.Start(t,
		"test. 300 IN SOA ns.test. h.test. 1 2 3 4 60",
		"badmx.test. 300 IN MX 10 nohost.badmx.test.",
		"cnmx.test. 300 IN MX 10 alias.cnmx.test.",
		"alias.cnmx.test. 300 IN CNAME mx.ext.test.",
		"mx.ext.test. 300 IN A 127.0.0.17",
		"flaky.test. 300 IN MX 10 mx.broken.test.",
		"null.test. 300 IN MX 0 .",
	)
	srv.NoChase("cnmx.test")
	srv.Fail("broken.test")
	res, err := resolver.New(resolver.Config{Servers: []string{srv.Addr}, Timeout: 2 * time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	eng := New(Config{Resolver: res})
	ctx := context.Background()

	ex := eng.Explain(ctx, "badmx.test", "opportunistic", 25)
	if len(ex.Hosts) != 1 || len(ex.Hosts[0].Addresses) != 0 || !strings.Contains(ex.Hosts[0].AddressError, "no such host") {
		t.Fatalf("badmx.test hosts: %+v", ex.Hosts)
	}
	if !strings.HasPrefix(ex.NoAddress, "550 5.4.4 MX host nohost.badmx.test of badmx.test has no address") || !ex.NoAddressPermanent {
		t.Errorf("badmx.test: no address %q (permanent %v)", ex.NoAddress, ex.NoAddressPermanent)
	}

	ex = eng.Explain(ctx, "cnmx.test", "opportunistic", 25)
	if len(ex.Hosts) != 1 || strings.Join(ex.Hosts[0].Addresses, ",") != "127.0.0.17" || strings.Join(ex.Hosts[0].CNAMEs, ",") != "mx.ext.test." ||
		ex.NoAddress != "" {
		t.Fatalf("cnmx.test: %+v, no address %q", ex.Hosts, ex.NoAddress)
	}

	ex = eng.Explain(ctx, "null.test", "opportunistic", 25)
	if len(ex.Hosts) != 0 || ex.NoAddress != "556 5.1.10 domain null.test accepts no mail (null MX)" || !ex.NoAddressPermanent {
		t.Errorf("null MX: %+v", ex)
	}

	ex = eng.Explain(ctx, "flaky.test", "opportunistic", 25)
	if !strings.HasPrefix(ex.NoAddress, "451 4.4.4") || ex.NoAddressPermanent {
		t.Errorf("flaky.test: no address %q (permanent %v)", ex.NoAddress, ex.NoAddressPermanent)
	}
}

// route explain looks MX hosts up as one delivery attempt does: at most
// 2 × mx_address_limit names (the others are listed, not looked up,
// their TLSA records not asked either), and none for a domain that is
// an IP address, which delivery fails at once with 550 5.1.2.
func TestExplainLooksUpWhatAnAttemptDoes(t *testing.T) {
	records := []string{"test. 300 IN SOA ns.test. h.test. 1 2 3 4 60"}
	for i := range 30 {
		records = append(records, "many.test. 300 IN MX "+strconv.Itoa(10+i)+" m"+strconv.Itoa(i)+".many.test.")
	}
	srv := dnstest.Start(t, records...)
	res, err := resolver.New(resolver.Config{Servers: []string{srv.Addr}, Timeout: 2 * time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	eng := New(Config{Resolver: res})
	ctx := context.Background()
	before := srv.Queries()
	ex := eng.ExplainUpTo(ctx, "many.test", "opportunistic", 25, 10)
	// MX, the MTA-STS TXT, then A and AAAA (twice: addresses and
	// their CNAMEs) of each of the first 10 hosts.
	if n := srv.Queries() - before; n > 2+4*10 {
		t.Errorf("%d queries to explain 30 MX hosts, want at most %d", n, 2+4*10)
	}
	if len(ex.Hosts) != 30 || ex.Hosts[10].AddressError != "" || len(ex.Hosts[10].Addresses) != 0 ||
		!strings.Contains(ex.Hosts[10].Effect, "not looked up") {
		t.Fatalf("hosts: %+v", ex.Hosts)
	}
	if !strings.HasPrefix(ex.NoAddress, "451 4.4.4") || ex.NoAddressPermanent {
		t.Errorf("10 of 30 hosts without an address: %q (permanent %v), want a deferral", ex.NoAddress, ex.NoAddressPermanent)
	}

	before = srv.Queries()
	ex = eng.ExplainUpTo(ctx, "192.0.2.1", "opportunistic", 25, 10)
	if !strings.HasPrefix(ex.NoAddress, "550 5.1.2") || !ex.NoAddressPermanent || len(ex.Hosts) != 0 {
		t.Errorf("IP-address text: %+v", ex)
	}
	if n := srv.Queries() - before; n != 0 {
		t.Errorf("%d queries for IP-address text", n)
	}
}

// An MX record whose exchange is IP-address text names no host (RFC
// 5321 §5.1): route explain shows it skipped, as delivery skips it
// (resolver.NumericMX), its TLS not decided, and the reply the mail gets
// when no other host is left (550 5.4.4 naming it).
func TestExplainNumericMXExchange(t *testing.T) {
	srv := dnstest.Start(t,
		"test. 300 IN SOA ns.test. h.test. 1 2 3 4 60",
		"numeric.test. 300 IN MX 10 127.0.0.2.",
		"mixed.test. 300 IN MX 5 127.0.0.2.",
		"mixed.test. 300 IN MX 10 mx.mixed.test.",
		"mx.mixed.test. 300 IN A 127.0.0.3",
	)
	res, err := resolver.New(resolver.Config{Servers: []string{srv.Addr}, Timeout: 2 * time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	eng := New(Config{Resolver: res})
	ctx := context.Background()
	ex := eng.Explain(ctx, "numeric.test", "opportunistic", 25)
	if len(ex.Hosts) != 1 || len(ex.Hosts[0].Addresses) != 0 || !strings.Contains(ex.Hosts[0].AddressError, "MX record names an IP address") ||
		!strings.HasPrefix(ex.Hosts[0].Effect, "skipped") {
		t.Fatalf("numeric.test hosts: %+v", ex.Hosts)
	}
	if !strings.HasPrefix(ex.NoAddress, "550 5.4.4 MX host 127.0.0.2 of numeric.test") || !ex.NoAddressPermanent {
		t.Errorf("numeric.test: no address %q (permanent %v)", ex.NoAddress, ex.NoAddressPermanent)
	}
	ex = eng.Explain(ctx, "mixed.test", "opportunistic", 25)
	if len(ex.Hosts) != 2 || !strings.HasPrefix(ex.Hosts[0].Effect, "skipped") || ex.NoAddress != "" ||
		strings.Join(ex.Hosts[1].Addresses, ",") != "127.0.0.3" {
		t.Errorf("mixed.test: %+v, no address %q", ex.Hosts, ex.NoAddress)
	}
}

// EDGE (RFC 7505 §3): route explain reads an MX answer as delivery does.
// A null MX is exactly one record of preference 0 and exchange ".": 556
// 5.1.10. An answer whose one MX record is cut short (RDATA "0014", the
// last bytes of the packet) is a failed lookup, not a null MX; a "."
// exchange of preference 10 names no host and is skipped (550 5.4.4
// naming it).
func TestExplainNullMXIsExactlyOneRootRecordOfPreferenceZero(t *testing.T) {
	srv := dnstest.StartOn(t, "127.0.0.170:9004",
		"test. 300 IN SOA ns.test. h.test. 1 2 3 4 60",
		"null.test. 300 IN MX 0 .",
		"root10.test. 300 IN MX 10 .",
	)
	srv.Raw("badmx2.test", dns.TypeMX, []byte{0x00, 0x14})
	res, err := resolver.New(resolver.Config{Servers: []string{srv.Addr}, Timeout: 2 * time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	eng := New(Config{Resolver: res})
	ctx := context.Background()
	if ex := eng.Explain(ctx, "null.test", "opportunistic", 25); ex.NoAddress != "556 5.1.10 domain null.test accepts no mail (null MX)" {
		t.Errorf("null.test: %+v", ex)
	}
	ex := eng.Explain(ctx, "badmx2.test", "opportunistic", 25)
	if ex.NoAddressPermanent || strings.Contains(ex.NoAddress, "null MX") || !strings.Contains(ex.Error, "MX record of badmx2.test. cut short") {
		t.Errorf("badmx2.test: error %q, no address %q (permanent %v): want the failed MX lookup", ex.Error, ex.NoAddress, ex.NoAddressPermanent)
	}
	ex = eng.Explain(ctx, "root10.test", "opportunistic", 25)
	if len(ex.Hosts) != 1 || ex.Hosts[0].MX != "." || !strings.HasPrefix(ex.Hosts[0].Effect, "skipped") ||
		!strings.HasPrefix(ex.NoAddress, "550 5.4.4 MX host . of root10.test has no address") || !ex.NoAddressPermanent {
		t.Errorf("root10.test: hosts %+v, no address %q (permanent %v)", ex.Hosts, ex.NoAddress, ex.NoAddressPermanent)
	}
}
