package tlspolicy

import (
	"context"
	"testing"
	"time"

	"umbra/internal/resolver"
	"umbra/internal/resolver/dnstest"
)

// RFC 7672 §2.2.2: TLSA records are looked up only for an MX host whose
// address records are DNSSEC-validated (a secure TLSA RRset cannot sit
// in an unsigned zone, and some unsigned zones' servers fail TLSA
// queries): a signed domain whose MX host is in an unsigned zone is no
// DANE destination — no TLSA query, no deferral for the server's
// SERVFAIL —, and neither is one whose host is an alias whose CNAME
// itself is not validated. A validated host keeps DANE.
func TestDANERequiresValidatedAddressRecords(t *testing.T) {
	srv := dnstest.Start(t,
		"sec.test. 300 IN MX 10 mx.plain.test.",
		"mx.plain.test. 300 IN A 127.0.0.2",
		"_25._tcp.mx.plain.test. 300 IN TLSA 3 1 1 "+hex32,
		"alias.plain.test. 300 IN CNAME mx.plain.test.",
		"_25._tcp.alias.plain.test. 300 IN TLSA 3 1 1 "+hex32,
		"mx.sec.test. 300 IN A 127.0.0.3",
		"_25._tcp.mx.sec.test. 300 IN TLSA 3 1 1 "+hex32)
	srv.Secure("sec.test")
	srv.Fail("_25._tcp.mx.plain.test")    // the unsigned zone's server fails TLSA queries
	srv.Fail("_25._tcp.alias.plain.test") // likewise
	res, err := resolver.New(resolver.Config{Servers: []string{srv.Addr}, TrustAD: true, Timeout: 5 * time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	eng := New(Config{Resolver: res, DANE: true})
	ctx := context.Background()
	if !eng.MXSecure(ctx, "sec.test") {
		t.Fatal("the MX RRset of sec.test is not secure")
	}
	for _, host := range []string{"mx.plain.test", "alias.plain.test"} {
		d, err := eng.Host(ctx, "sec.test", true, host, 25, nil)
		if err != nil || d != nil {
			t.Errorf("%s (address records not validated): decision %+v, error %v; want no DANE, no error", host, d, err)
		}
	}
	d, err := eng.Host(ctx, "sec.test", true, "mx.sec.test", 25, nil)
	if err != nil || d == nil || d.Source != SourceDANE {
		t.Fatalf("validated host: %+v, %v", d, err)
	}
}

const hex32 = "abababababababababababababababababababababababababababababababab"
