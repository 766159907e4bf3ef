package tlspolicy

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/resolver"
	"umbra/internal/resolver/dnstest"
)

// The policy umbra publishes is the one another umbra fetches and
// enforces: served only for mta-sts.<domain>, as text/plain.
func TestPublishedPolicyFetched(t *testing.T) {
	ca, caKey := cert(t, "CA", nil, nil, true, time.Now().Add(time.Hour))
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(9), Subject: pkix.Name{CommonName: "mta-sts.pub.test"},
		DNSNames: []string{"mta-sts.pub.test"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pub := Publication{Mode: ModeEnforce, MX: []string{"mx.pub.test", "*.mx.pub.test"}, MaxAge: 7 * 24 * time.Hour, Domains: []string{"pub.test"}}
	srv := NewLive(pub, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}).Server() // as serve runs it
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })

	dns := dnstest.Start(t, `_mta-sts.pub.test. 300 IN TXT "v=STSv1; id=1"`, "mta-sts.pub.test. 300 IN A 127.0.0.1",
		`_mta-sts.other.test. 300 IN TXT "v=STSv1; id=1"`, "mta-sts.other.test. 300 IN A 127.0.0.1")
	res, _ := resolver.New(resolver.Config{Servers: []string{dns.Addr}, Timeout: 2 * time.Second, Attempts: 1})
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	eng := New(Config{Resolver: res, MTASTS: true, RootCAs: roots, HTTPSPort: ln.Addr().(*net.TCPAddr).Port,
		FetchTimeout: 5 * time.Second, Clock: clock.NewFake(time.Now())})
	p, err := eng.STS(context.Background(), "pub.test")
	if err != nil || p == nil || p.Mode != ModeEnforce || !p.MatchMX("a.mx.pub.test") || p.MatchMX("evil.test") || p.MaxAge != 7*24*time.Hour {
		t.Fatalf("fetched %+v %v", p, err)
	}
	if p, _ := eng.STS(context.Background(), "other.test"); p != nil {
		t.Fatalf("a domain the server does not publish for got %+v", p)
	}
	// Anything but the well-known path is 404.
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "mta-sts.pub.test"}}}
	resp, err := c.Get("https://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET / answered %s", resp.Status)
	}
	// A fully qualified Host (trailing dot), in any case, is the same host.
	for _, h := range []string{"mta-sts.pub.test.", "MTA-STS.Pub.Test.", "mta-sts.pub.test.:443"} {
		req, _ := http.NewRequest(http.MethodGet, "https://"+ln.Addr().String()+"/.well-known/mta-sts.txt", nil)
		req.Host = h
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "mode: enforce") {
			t.Fatalf("Host %q answered %s", h, resp.Status)
		}
	}
}
