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

// OPS-2, EDGE-1: the sibling of TestQueryEndedByItsCallersCountedCancelled
// that must not be taken for it. A caller whose own deadline ran out
// while the server stayed silent (a DNS list or HELO check bounded at
// 10 s, the resolver's whole budget dns.timeout × attempts × servers
// longer) gave up because the server did not answer in the time it had:
// that is the server's silence, outcome="timeout", never "cancelled",
// which the README calls no failure of the server's. Otherwise a dead
// resolver behind an edge server whose lookups all come from such checks
// shows no timeout at all in umbra_dns_queries_total. Against a real DNS
// server on loopback that never answers. Seen to fail first: the
// question its caller's deadline ended counted outcome="cancelled".
func TestQueryEndedByItsCallersDeadlineCountedTimeout(t *testing.T) {
	silent := dnstest.StartOn(t, "127.0.0.191:13500")
	silent.Drop(".")
	up, err := resolver.New(resolver.Config{Servers: []string{silent.Addr}, Timeout: time.Hour, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	m := resolver.NewMetrics(prometheus.NewRegistry())
	c := resolver.NewCache(up, resolver.CacheConfig{Metrics: m, Budget: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond) // the check's own bound
	defer cancel()
	start := time.Now()
	if _, err := c.Lookup(ctx, "hang.test", dns.TypeMX); err == nil {
		t.Fatal("a silent server answered")
	}
	if d := time.Since(start); d > time.Minute {
		t.Fatalf("the lookup ran on %v after its caller's deadline", d)
	}
	counted := func() float64 {
		var n float64
		for _, o := range []string{"ok", "nxdomain", "nodata", "timeout", "error", "cancelled"} {
			n += m.QueryCount("MX", o)
		}
		return n
	}
	for i := 0; counted() == 0; i++ {
		if i == 5000 {
			t.Fatal("the question its caller's deadline ended was never counted")
		}
		time.Sleep(time.Millisecond)
	}
	if n := m.QueryCount("MX", "cancelled"); n != 0 {
		t.Fatalf("the question its caller's deadline ended counted outcome=cancelled (%v): the server's silence counted as no failure", n)
	}
	if n := m.QueryCount("MX", "timeout"); n != 1 {
		t.Fatalf("the question its caller's deadline ended: timeout %v (error %v), want 1", n, m.QueryCount("MX", "error"))
	}
}
