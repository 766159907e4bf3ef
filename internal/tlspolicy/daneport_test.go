package tlspolicy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"umbra/internal/resolver"
	"umbra/internal/resolver/dnstest"
)

// TLSA records are looked up at _PORT._tcp.HOST for the port the
// connection goes to (RFC 6698 §3, RFC 7672 §2.2.2), not at _25 always;
// and for an MX host that is an alias, at the CNAME-expanded name first
// when every step of the chain is DNSSEC-validated, then at the original
// name; with an insecure step, at the original name only (RFC 7672
// §2.2.2).
func TestDANETLSABaseDomain(t *testing.T) {
	now := time.Now()
	leaf, _ := cert(t, "mx.target.test", nil, nil, true, now.Add(time.Hour))
	other, _ := cert(t, "other.test", nil, nil, true, now.Add(time.Hour))
	rec := func(name string, c *x509.Certificate) string {
		return name + " 300 IN TLSA 3 1 1 " + tlsa(3, 1, 1, c).Certificate
	}
	srv := dnstest.Start(t,
		"p.test. 300 IN MX 10 mx.p.test.", "mx.p.test. 300 IN A 127.0.0.2",
		rec("_2525._tcp.mx.p.test.", leaf),
		"q.test. 300 IN MX 10 mx.q.test.", "mx.q.test. 300 IN A 127.0.0.2",
		rec("_25._tcp.mx.q.test.", leaf),
		// A secure chain with TLSA at both names: the expanded one is used.
		"c.test. 300 IN MX 10 alias.c.test.", "alias.c.test. 300 IN CNAME mx.target.test.",
		"mx.target.test. 300 IN A 127.0.0.2",
		rec("_25._tcp.mx.target.test.", leaf), rec("_25._tcp.alias.c.test.", other),
		// A secure chain with TLSA at the original name only.
		"o.test. 300 IN MX 10 alias.o.test.", "alias.o.test. 300 IN CNAME mx.bare.test.",
		"mx.bare.test. 300 IN A 127.0.0.2", rec("_25._tcp.alias.o.test.", other),
		// An insecure step: only the original name counts, though the
		// expanded name's TLSA answer is validated.
		"i.test. 300 IN MX 10 alias.i.test.", "alias.i.test. 300 IN CNAME mx.plain.test.",
		"mx.plain.test. 300 IN A 127.0.0.2",
		rec("_25._tcp.mx.plain.test.", leaf), rec("_25._tcp.alias.i.test.", other))
	for _, z := range []string{"p.test", "q.test", "c.test", "target.test", "o.test", "bare.test", "i.test", "_tcp.mx.plain.test"} {
		srv.Secure(z)
	}
	srv.NoChase("alias.i.test") // the resolver asks for mx.plain.test itself: that answer is insecure
	res, err := resolver.New(resolver.Config{Servers: []string{srv.Addr}, TrustAD: true, Timeout: 5 * time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	eng := New(Config{Resolver: res, DANE: true})
	ctx := context.Background()
	matches := func(d *Decision, c *x509.Certificate) bool {
		return d != nil && d.Verify != nil && d.Verify(tls.ConnectionState{PeerCertificates: []*x509.Certificate{c}}) == nil
	}
	for _, c := range []struct {
		domain, host string
		port         int
		detail       string // "": no DANE
		cert         *x509.Certificate
	}{
		{"p.test", "mx.p.test", 2525, "1 TLSA records at _2525._tcp.mx.p.test", leaf},
		{"p.test", "mx.p.test", 25, "", nil},
		{"q.test", "mx.q.test", 2525, "", nil},
		{"q.test", "mx.q.test", 25, "1 TLSA records at _25._tcp.mx.q.test", leaf},
		{"c.test", "alias.c.test", 25, "1 TLSA records at _25._tcp.mx.target.test (CNAME of alias.c.test)", leaf},
		{"o.test", "alias.o.test", 25, "1 TLSA records at _25._tcp.alias.o.test", other},
		{"i.test", "alias.i.test", 25, "1 TLSA records at _25._tcp.alias.i.test", other},
	} {
		d, err := eng.Host(ctx, c.domain, eng.MXSecure(ctx, c.domain), c.host, c.port, nil)
		switch {
		case err != nil:
			t.Errorf("%s port %d: %v", c.host, c.port, err)
		case c.detail == "" && d != nil:
			t.Errorf("%s port %d: DANE %+v, want none", c.host, c.port, d)
		case c.detail != "" && (d == nil || !strings.Contains(d.Detail, c.detail) || !matches(d, c.cert)):
			t.Errorf("%s port %d: %+v, want %q matching %s", c.host, c.port, d, c.detail, c.cert.Subject.CommonName)
		}
	}
}
