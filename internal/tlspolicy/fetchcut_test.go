package tlspolicy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/resolver"
	"umbra/internal/resolver/dnstest"
)

// TLS- (rr26, the sched26 reread): delivery now passes the context untilExpiry
// cuts at a retry's expiry to outboundTLS (remote.go: lctx), so the
// MTA-STS policy fetch of one message whose expiry comes while the
// policy host answers (slowly, well within FetchTimeout) is cancelled.
// The engine records that cancelled fetch as the domain's failed fetch
// (fetchFailed) for fetchBackoff: every other message to the domain in
// the next five minutes gets no policy — its MX hosts are not checked
// and TLS is not required — although the policy host never failed.
// A caller that gives up must not fail the others (as the resolver's
// cache runs its lookups on context.WithoutCancel).
func TestCancelledFetchIsNotTheDomainsFailure(t *testing.T) {
	ca, caKey := cert(t, "CA", nil, nil, true, time.Now().Add(time.Hour))
	leaf, key := cert(t, "mta-sts.s.test", ca, caKey, false, time.Now().Add(time.Hour))
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	var gets atomic.Int32
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if gets.Add(1) == 1 {
			time.Sleep(700 * time.Millisecond) // slow, but far within FetchTimeout
		}
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte(enforceSTS))
	}), TLSConfig: &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leaf.Raw}, PrivateKey: key}}}, ReadHeaderTimeout: 5 * time.Second}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	dns := dnstest.Start(t, `_mta-sts.s.test. 300 IN TXT "v=STSv1; id=1"`, "mta-sts.s.test. 300 IN A 127.0.0.1", "s.test. 300 IN MX 10 mx.s.test.")
	res, _ := resolver.New(resolver.Config{Servers: []string{dns.Addr}, Timeout: 2 * time.Second, Attempts: 1})
	clk := clock.NewFake(time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC))
	eng := New(Config{Resolver: res, MTASTS: true, RootCAs: roots, HTTPSPort: ln.Addr().(*net.TCPAddr).Port, FetchTimeout: 10 * time.Second, Clock: clk})

	// Message 1's retry: its expiry comes while the policy host answers.
	cut, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	eng.STS(cut, "s.test")

	// Message 2, a minute later, to the same domain.
	clk.Advance(time.Minute)
	p, err := eng.STS(context.Background(), "s.test")
	if p == nil || p.Mode != ModeEnforce {
		f, _ := eng.LastFetchFailure("s.test")
		t.Fatalf("another message's policy after one message's expiry cut its fetch: %+v (err %v, %d fetches); recorded failure: %+v", p, err, gets.Load(), f)
	}
}
