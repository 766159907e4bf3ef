package tlspolicy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/resolver"
	"umbra/internal/resolver/dnstest"
)

// An internationalised domain written as its U-label, in any case, is
// its A-label for MTA-STS: the policy is looked up at the A-label's
// _mta-sts name (DNS holds no other), cached once, and route explain
// shows the policy delivery applies whichever form it was given. Written
// the other way the policy would be missed: a policy bypass.
func TestSTSDomainInEitherForm(t *testing.T) {
	const aLabel = "xn--bcher-kva.example"
	h := startPolicyHost(t, aLabel)
	h.set("version: STSv1\nmode: enforce\nmx: mx." + aLabel + "\nmax_age: 86400\n")
	dns := dnstest.Start(t, `_mta-sts.`+aLabel+`. 300 IN TXT "v=STSv1; id=1"`, "mta-sts."+aLabel+". 300 IN A 127.0.0.1",
		aLabel+". 300 IN MX 10 mx."+aLabel+".")
	res, _ := resolver.New(resolver.Config{Servers: []string{dns.Addr}, Timeout: 2 * time.Second, Attempts: 1})
	clk := clock.NewFake(time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC))
	eng := New(Config{Resolver: res, MTASTS: true, RootCAs: h.roots, HTTPSPort: h.port, FetchTimeout: 5 * time.Second, Clock: clk})
	ctx := context.Background()
	for _, d := range []string{"BÜCHER.example.", "bücher.example", "XN--BCHER-KVA.example"} {
		p, err := eng.STS(ctx, d)
		if err != nil || p == nil || p.Mode != ModeEnforce {
			t.Fatalf("STS(%q) = %+v, %v", d, p, err)
		}
		if eng.Cached(d) == nil {
			t.Fatalf("Cached(%q) = nil", d)
		}
	}
	if h.count() != 1 {
		t.Fatalf("policy fetched %d times for one domain", h.count())
	}
	if ex := eng.Explain(ctx, "Bücher.example", "opportunistic", 25); ex.Domain != aLabel || ex.STS == nil || ex.STS.Mode != ModeEnforce {
		t.Fatalf("explain of the U-label: domain %q, policy %+v", ex.Domain, ex.STS)
	}
}

// A policy published for an accepted domain written as its U-label is
// served for the host a fetcher asks for: mta-sts.<A-label>, in either
// form.
func TestPublishedPolicyIDNHost(t *testing.T) {
	hd := Publication{Mode: ModeEnforce, MX: []string{"mx.pub.test"}, MaxAge: time.Hour, Domains: []string{"bücher.example"}}.Handler()
	for _, host := range []string{"mta-sts.xn--bcher-kva.example", "MTA-STS.XN--BCHER-KVA.example.", "mta-sts.bücher.example"} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, "https://x/.well-known/mta-sts.txt", nil)
		r.Host = host
		hd.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			t.Errorf("Host %q answered %d", host, w.Code)
		}
	}
}

// DANE for an internationalised domain given as its U-label: the MX
// RRset and the TLSA records are looked up at the A-label names DNS
// holds, and the certificate names the A-label (RFC 7672 §3.2.3), so
// the same DNSSEC-validated policy applies in either form.
func TestDANEDomainInEitherForm(t *testing.T) {
	const aLabel = "xn--bcher-kva.example"
	leaf, _ := cert(t, aLabel, nil, nil, true, time.Now().Add(time.Hour))
	srv := dnstest.Start(t, aLabel+". 300 IN MX 10 mx."+aLabel+".", "mx."+aLabel+". 300 IN A 127.0.0.2",
		"_25._tcp.mx."+aLabel+". 300 IN TLSA 3 1 1 "+tlsa(3, 1, 1, leaf).Certificate)
	srv.Secure(aLabel)
	res, err := resolver.New(resolver.Config{Servers: []string{srv.Addr}, TrustAD: true, Timeout: 5 * time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	eng := New(Config{Resolver: res, DANE: true})
	ctx := context.Background()
	for _, d := range []string{"bücher.example", "BÜCHER.example.", aLabel} {
		if !eng.MXSecure(ctx, d) {
			t.Fatalf("MXSecure(%q) = false", d)
		}
		dec, err := eng.Host(ctx, d, true, "mx.Bücher.example.", 25, nil)
		if err != nil || dec == nil || dec.Source != SourceDANE || dec.PolicyDomain != aLabel || dec.Verify == nil {
			t.Fatalf("Host(%q) = %+v, %v", d, dec, err)
		}
		if err := dec.Verify(tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}}); err != nil {
			t.Fatalf("Host(%q): the A-label's certificate refused: %v", d, err)
		}
	}
}
