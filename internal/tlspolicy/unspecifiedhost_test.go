package tlspolicy

import (
	"context"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/resolver"
	"umbra/internal/resolver/dnstest"
)

// TLS-1, SMTP-4: the MTA-STS policy host (mta-sts.DOMAIN, a name in the
// domain owner's DNS) resolving to the unspecified address was fetched
// from — an HTTPS request to this machine itself (here a policy host on
// loopback). Its unspecified addresses are never connected to, and a
// name with no other fails the fetch naming it, as every host name umbra
// connects to (config.UnspecifiedNameError).
func TestTLS1PolicyHostResolvingToUnspecifiedNotFetched(t *testing.T) {
	h := startPolicyHost(t, "s.test")
	h.set(enforceSTS)
	dns := dnstest.Start(t, `_mta-sts.s.test. 300 IN TXT "v=STSv1; id=1"`, "mta-sts.s.test. 300 IN A 0.0.0.0", "s.test. 300 IN MX 10 mx.s.test.")
	res, _ := resolver.New(resolver.Config{Servers: []string{dns.Addr}, Timeout: 2 * time.Second, Attempts: 1})
	clk := clock.NewFake(time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC))
	eng := New(Config{Resolver: res, MTASTS: true, RootCAs: h.roots, HTTPSPort: h.port, FetchTimeout: 5 * time.Second, Clock: clk})
	p, _ := eng.STS(context.Background(), "s.test")
	if p != nil || h.count() != 0 {
		t.Fatalf("policy host resolving to 0.0.0.0: policy %+v, %d requests reached this machine", p, h.count())
	}
	if f, ok := eng.LastFetchFailure("s.test"); !ok || !strings.Contains(f.Err, "host name mta-sts.s.test resolves to 0.0.0.0, the unspecified address") {
		t.Errorf("the fetch's failure: %+v %v; want it to name the name and the address", f, ok)
	}
}
