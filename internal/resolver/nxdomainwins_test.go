package resolver_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"

	"umbra/internal/resolver"
	"umbra/internal/resolver/dnstest"
)

// EDGE-1 (front48 item 4): an address lookup asks A and AAAA together;
// when A is answered that the name does not exist (NXDOMAIN: no record
// of any type) and AAAA cannot be asked (SERVFAIL), the answer is the
// denial — the name has no address —, never the temporary error, which
// made a HELO name or a next hop that does not exist look like DNS
// trouble (450, retries) for as long as one server failed one type. An
// NXDOMAIN to AAAA alone beside a failed A stays temporary: RFC 4074
// §4.2 names servers that answer NXDOMAIN to AAAA for a name whose A
// record exists, and a denial there would bounce mail a retry delivers.
// A NODATA (the name exists, no AAAA) beside a failed A stays temporary
// too: the A record may exist.
func TestAddressLookupDenialAnsweredBesideAFailedType(t *testing.T) {
	srv := dnstest.Start(t, "nodata.test. 60 IN MX 10 mx.nodata.test.")
	failA := func(r *dns.Msg) []byte {
		if r.Question[0].Qtype == dns.TypeA {
			r.Rcode, r.Answer, r.Ns = dns.RcodeServerFailure, nil, nil
		}
		b, _ := r.Pack()
		return b
	}
	failAAAA := func(r *dns.Msg) []byte {
		if r.Question[0].Qtype == dns.TypeAAAA {
			r.Rcode, r.Answer, r.Ns = dns.RcodeServerFailure, nil, nil
		}
		b, _ := r.Pack()
		return b
	}
	srv.Mangle("gone.test", failAAAA)
	srv.Mangle("sixless.test", failA)
	srv.Mangle("nodata.test", failA)
	c, err := resolver.New(resolver.Config{Servers: []string{srv.Addr}, Timeout: 2 * time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []resolver.Resolver{c, resolver.NewCache(c, resolver.CacheConfig{Budget: c.Budget()})} {
		_, err := r.LookupIPAddr(context.Background(), "host.gone.test")
		var de *net.DNSError
		if !errors.As(err, &de) || de.IsTemporary || !de.IsNotFound {
			t.Errorf("a name that does not exist, AAAA failing: %v (%+v), want the denial (not found, not temporary)", err, de)
		}
		_, err = r.LookupIPAddr(context.Background(), "host.sixless.test")
		if !errors.As(err, &de) || !de.IsTemporary {
			t.Errorf("NXDOMAIN to AAAA alone, A failing: %v, want temporary (RFC 4074 §4.2)", err)
		}
		_, err = r.LookupIPAddr(context.Background(), "nodata.test")
		if !errors.As(err, &de) || !de.IsTemporary {
			t.Errorf("a name with no AAAA, A failing: %v, want temporary", err)
		}
	}
}
