package tlspolicy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/resolver"
	"umbra/internal/resolver/dnstest"
)

// rt21d M4 (TLS-1): SetRoots (a reload that read the CA files of the outbound
// trust store again) replaces the CAs that both the policy host's
// certificate and, under an enforced policy, the MX hosts' certificates
// are verified against: a fetch and a check after it trust the new
// store, where before they trusted only the one the engine was made
// with (here the system roots, which hold no test CA).
func TestSetRootsAppliesToPolicyFetchAndMXCheck(t *testing.T) {
	h := startPolicyHost(t, "r.test")
	h.set("version: STSv1\nmode: enforce\nmx: mx.r.test\nmax_age: 86400\n")
	dns := dnstest.Start(t, `_mta-sts.r.test. 300 IN TXT "v=STSv1; id=1"`, "mta-sts.r.test. 300 IN A 127.0.0.1", "r.test. 300 IN MX 10 mx.r.test.")
	res, _ := resolver.New(resolver.Config{Servers: []string{dns.Addr}, Timeout: 2 * time.Second, Attempts: 1})
	clk := clock.NewFake(time.Now())
	eng := New(Config{Resolver: res, MTASTS: true, HTTPSPort: h.port, FetchTimeout: 5 * time.Second, Clock: clk})
	ctx := context.Background()

	ca, caKey := cert(t, "MX CA", nil, nil, true, time.Now().Add(time.Hour))
	leaf, _ := cert(t, "mx.r.test", ca, caKey, false, time.Now().Add(time.Hour))
	mxSession := tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}}
	manual := &STSPolicy{Mode: ModeEnforce, MX: []string{"mx.r.test"}, MaxAge: time.Hour, ID: "0", Fetched: clk.Now()}

	if p, _ := eng.STS(ctx, "r.test"); p != nil {
		t.Fatalf("policy fetched from a host whose CA the engine does not trust: %+v", p)
	}
	if f, ok := eng.LastFetchFailure("r.test"); !ok || !strings.Contains(f.Err, "certificate") {
		t.Fatalf("the failed fetch: %+v %v", f, ok)
	}
	if d, err := eng.Host(ctx, "r.test", false, "mx.r.test", 25, manual); err != nil || d == nil || d.Verify(mxSession) == nil {
		t.Fatalf("the MX check passed a certificate of a CA the engine does not trust (%v)", err)
	}

	roots := h.roots.Clone()
	roots.AddCert(ca)
	eng.SetRoots(roots)
	dns.Remove("_mta-sts.r.test.")
	dns.Add(t, `_mta-sts.r.test. 300 IN TXT "v=STSv1; id=2"`) // a new id: fetched at once, the failure's pause aside
	p, _ := eng.STS(ctx, "r.test")
	if p == nil || p.Mode != ModeEnforce {
		f, _ := eng.LastFetchFailure("r.test")
		t.Fatalf("no policy fetched after SetRoots: %+v", f)
	}
	d, err := eng.Host(ctx, "r.test", false, "mx.r.test", 25, p)
	if err != nil || d == nil {
		t.Fatalf("decision: %+v %v", d, err)
	}
	if err := d.Verify(mxSession); err != nil {
		t.Fatalf("the MX check after SetRoots: %v", err)
	}
}
