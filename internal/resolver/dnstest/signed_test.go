package dnstest_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"umbra/internal/resolver"
	"umbra/internal/resolver/dnstest"

	"github.com/miekg/dns"
)

// A real unbound validates the signed zone: the AD bit flows through the
// resolver as Answer.Secure for records, NODATA and NXDOMAIN; a record
// whose signature is broken is SERVFAIL (temporary), never an answer.
func TestUnboundValidatesSignedZone(t *testing.T) {
	z := dnstest.StartSigned(t, "127.0.0.20", "signed.test",
		"signed.test. 300 IN MX 10 mx.signed.test.",
		"mx.signed.test. 300 IN A 127.0.0.2",
		"_25._tcp.mx.signed.test. 300 IN TLSA 3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		"forged.signed.test. 300 IN A 127.0.0.9")
	z.Bogus("forged.signed.test")
	addr := dnstest.StartUnbound(t, "127.0.0.21", z)
	r, err := resolver.New(resolver.Config{Servers: []string{addr}, TrustAD: true, Timeout: 3 * time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, q := range []struct {
		name string
		t    uint16
	}{{"signed.test", dns.TypeMX}, {"mx.signed.test", dns.TypeA}, {"_25._tcp.mx.signed.test", dns.TypeTLSA}} {
		a, err := r.Lookup(ctx, q.name, q.t)
		if err != nil || !a.Secure || len(a.RRs) == 0 {
			t.Fatalf("%s %s: secure=%v err=%v", q.name, dns.TypeToString[q.t], a != nil && a.Secure, err)
		}
	}
	var de *net.DNSError
	for _, q := range []struct {
		name string
		t    uint16
	}{{"mx.signed.test", dns.TypeAAAA}, {"nothere.signed.test", dns.TypeA}, {"_25._tcp.nothere.signed.test", dns.TypeTLSA}} {
		a, err := r.Lookup(ctx, q.name, q.t)
		if !errors.As(err, &de) || !de.IsNotFound || a == nil || !a.Secure {
			t.Fatalf("%s %s: want a secure denial, got secure=%v err=%v", q.name, dns.TypeToString[q.t], a != nil && a.Secure, err)
		}
	}
	if _, err := r.Lookup(ctx, "forged.signed.test", dns.TypeA); !errors.As(err, &de) || !de.IsTemporary {
		t.Fatalf("bogus answer: %v", err)
	}
	// The same resolver without TrustAD never calls anything secure.
	r2, _ := resolver.New(resolver.Config{Servers: []string{addr}, Timeout: 3 * time.Second, Attempts: 1})
	if a, err := r2.Lookup(ctx, "signed.test", dns.TypeMX); err != nil || a.Secure {
		t.Fatalf("untrusted AD believed: %v %v", a, err)
	}
}
