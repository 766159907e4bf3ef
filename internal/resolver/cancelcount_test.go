package resolver_test

import (
	"context"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"umbra/internal/resolver"
	"umbra/internal/resolver/dnstest"
)

// OPS-2, EDGE-1: a question the cache asked upstream and ended because
// every caller waiting for it gave up (umbra's stop, a session's end, a
// delivery attempt cut) is no failure of the DNS server's:
// umbra_dns_queries_total counts it outcome="cancelled", never "error"
// or "timeout", which an alert on the resolver's health reads. Against a
// real DNS server on loopback that never answers. Seen to fail first:
// the question the last caller gave up counted outcome="error".
func TestQueryEndedByItsCallersCountedCancelled(t *testing.T) {
	silent := dnstest.StartOn(t, "127.0.0.175:10158")
	silent.Drop(".")
	up, err := resolver.New(resolver.Config{Servers: []string{silent.Addr}, Timeout: time.Hour, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	m := resolver.NewMetrics(prometheus.NewRegistry())
	c := resolver.NewCache(up, resolver.CacheConfig{Metrics: m, Budget: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := c.Lookup(ctx, "hang.test", dns.TypeMX); done <- err }()
	for i := 0; silent.Queries() == 0; i++ {
		if i == 10000 {
			t.Fatal("the question never reached the server")
		}
		time.Sleep(time.Millisecond)
	}
	cancel() // the only caller gives up: the question ends
	select {
	case <-done:
	case <-time.After(time.Minute): // a bound on a hang: the client's own timeout is an hour
		t.Fatal("the lookup ran on after its caller gave up")
	}
	for i := 0; m.QueryCount("MX", "cancelled") == 0; i++ {
		if i == 5000 {
			t.Fatalf("the question its callers ended never counted outcome=cancelled (error %v, timeout %v)",
				m.QueryCount("MX", "error"), m.QueryCount("MX", "timeout"))
		}
		time.Sleep(time.Millisecond)
	}
	if e, to := m.QueryCount("MX", "error"), m.QueryCount("MX", "timeout"); e != 0 || to != 0 {
		t.Fatalf("the question its callers ended counted error %v, timeout %v: blamed on the server", e, to)
	}
}
