package tlspolicy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/resolver"
	"umbra/internal/resolver/dnstest"
)

// TLS- (RFC 8461 §3.3, the edge check's F2 sibling): a policy host that
// does not answer within the fetch timeout is said so, with the step it
// did not answer, in words ("did not answer within 300ms (reading
// the response)"), never followed by the error the cut gave the request
// ("Get \"https://…\": context deadline exceeded"), which says nothing
// more and reads as a failure of umbra's. The policy host accepts the
// request over a real TLS connection and never answers.
func TestHungPolicyHostSaidInWords(t *testing.T) {
	ca, caKey := cert(t, "CA", nil, nil, true, time.Now().Add(time.Hour))
	leaf, key := cert(t, "mta-sts.h.test", ca, caKey, false, time.Now().Add(time.Hour))
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	// Hung until the test ends (at most 5s): never answered while umbra
	// waits. Not until the request's context ends: a handler that returns
	// then writes an empty 200, which a loaded machine (the race
	// detector) let the fetch read as the policy host's answer now and
	// then ("policy media type \"\"").
	hang := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-time.After(5 * time.Second):
		}
	}), TLSConfig: &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leaf.Raw}, PrivateKey: key}}}, ReadHeaderTimeout: 5 * time.Second}
	ln, err := net.Listen("tcp", "127.0.0.127:10540")
	if err != nil {
		t.Fatal(err)
	}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { close(hang); srv.Close() })
	dns := dnstest.StartOn(t, "127.0.0.127:10541", `_mta-sts.h.test. 300 IN TXT "v=STSv1; id=1"`, "mta-sts.h.test. 300 IN A 127.0.0.127", "h.test. 300 IN MX 10 mx.h.test.")
	res, _ := resolver.New(resolver.Config{Servers: []string{dns.Addr}, Timeout: 2 * time.Second, Attempts: 1})
	clk := clock.NewFake(time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC))
	eng := New(Config{Resolver: res, MTASTS: true, RootCAs: roots, HTTPSPort: 10540, FetchTimeout: 300 * time.Millisecond, Clock: clk})
	eng.STS(context.Background(), "h.test")
	f, ok := eng.LastFetchFailure("h.test")
	if !ok {
		t.Fatal("no fetch failure recorded for a hung policy host")
	}
	msg := f.Err
	if !strings.Contains(msg, "policy host mta-sts.h.test port 10540 did not answer within 300ms (") ||
		strings.Contains(msg, "deadline exceeded") || strings.Contains(msg, "Get \"") || strings.Contains(msg, "i/o timeout") {
		t.Errorf("fetch failure %q: want the policy host's silence in words only", msg)
	}
}
