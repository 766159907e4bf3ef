package tlspolicy

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/resolver"
	"umbra/internal/resolver/dnstest"
)

// route explain counts mx_address_limit over the hosts delivery tries:
// MX hosts an enforced MTA-STS policy does not list are skipped before
// the limit (delivery's filterHosts, through STSPolicy.Admits), so six
// unlisted hosts ahead of the listed one do not put it "past
// mx_address_limit 5" — delivery uses it (rt-fixb19 item 3).
func TestExplainAddressLimitSkipsUnlistedHosts(t *testing.T) {
	h := startPolicyHost(t, "s.test")
	h.set("version: STSv1\nmode: enforce\nmx: ok.s.test\nmax_age: 86400\n")
	recs := []string{"test. 300 IN SOA ns.test. h.test. 1 2 3 4 60",
		`_mta-sts.s.test. 300 IN TXT "v=STSv1; id=1"`, "mta-sts.s.test. 300 IN A 127.0.0.1",
		"s.test. 300 IN MX 70 ok.s.test.", "ok.s.test. 300 IN A 127.0.0.70"}
	for i := range 6 {
		recs = append(recs, fmt.Sprintf("s.test. 300 IN MX %d u%d.s.test.", 10*(i+1), i), fmt.Sprintf("u%d.s.test. 300 IN A 127.0.0.%d", i, 60+i))
	}
	dns := dnstest.Start(t, recs...)
	res, _ := resolver.New(resolver.Config{Servers: []string{dns.Addr}, Timeout: 2 * time.Second, Attempts: 1})
	eng := New(Config{Resolver: res, MTASTS: true, RootCAs: h.roots, HTTPSPort: h.port, FetchTimeout: 5 * time.Second,
		Clock: clock.NewFake(time.Now())})
	ex := eng.ExplainUpTo(context.Background(), "s.test", "opportunistic", 25, 10)
	if ex.STS == nil || len(ex.Hosts) != 7 {
		t.Fatalf("explanation %+v", ex)
	}
	if beyond, _ := ex.PastAddressLimit(5); len(beyond) != 0 {
		t.Fatalf("past mx_address_limit 5: %q; delivery skips the 6 unlisted hosts and tries ok.s.test", beyond)
	}
	for _, hx := range ex.Hosts {
		if strings.HasPrefix(hx.MX, "u") != strings.HasPrefix(hx.Effect, "not used") {
			t.Errorf("%s: %q", hx.MX, hx.Effect)
		}
	}
	// Under testing every host is tried: the limit cuts the listed one.
	h.set("version: STSv1\nmode: testing\nmx: ok.s.test\nmax_age: 86400\n")
	dns.Remove("_mta-sts.s.test.")
	dns.Add(t, `_mta-sts.s.test. 300 IN TXT "v=STSv1; id=2"`)
	ex = eng.ExplainUpTo(context.Background(), "s.test", "opportunistic", 25, 10)
	if beyond, n := ex.PastAddressLimit(5); n != 7 || len(beyond) != 2 || beyond[1] != "ok.s.test[127.0.0.70]" {
		t.Fatalf("testing: %q of %d", beyond, n)
	}
}
