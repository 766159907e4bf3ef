package resolver_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"umbra/internal/clock"
	"umbra/internal/resolver"
)

// trapClock is a fake clock whose Now panics once when armed (a defect
// reached on the resolver's goroutines, under the cache's lock or not).
type trapClock struct {
	*clock.Fake
	armed atomic.Bool
}

func (c *trapClock) Now() time.Time {
	if c.armed.CompareAndSwap(true, false) {
		panic("injected panic in the resolver's clock")
	}
	return c.Fake.Now()
}

// answering answers every A and AAAA question.
type answering struct{}

func (answering) Lookup(ctx context.Context, name string, qtype uint16) (*resolver.Answer, error) {
	rr, _ := dns.NewRR(name + " 60 IN A 127.0.0.1")
	if qtype == dns.TypeAAAA {
		rr, _ = dns.NewRR(name + " 60 IN AAAA ::1")
	}
	return &resolver.Answer{RRs: []dns.RR{rr}, TTL: 60}, nil
}

// SPEC EDGE-1, OPS-2: a panic on one of the goroutines an address
// lookup asks A and AAAA on — here inside the cache, under its lock —
// is recovered: the lookup answers (with the other type, or a
// temporary error), the panic is counted (umbra_dns_panics_total), and
// the cache still answers afterwards (its lock was not kept). Seen to
// fail first: the test binary died of the panic.
func TestAddressLookupPanicRecovered(t *testing.T) {
	tc := &trapClock{Fake: clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))}
	m := resolver.NewMetrics(prometheus.NewRegistry())
	c := resolver.NewCache(answering{}, resolver.CacheConfig{Clock: tc, Metrics: m})
	ctx := context.Background()
	if _, err := c.Lookup(ctx, "h.test", dns.TypeA); err != nil {
		t.Fatal(err)
	}
	tc.armed.Store(true)
	c.LookupIPAddr(ctx, "h.test") // one of its two lookups panics
	if n := m.PanicCount(); n != 1 {
		t.Fatalf("umbra_dns_panics_total %v, want 1", n)
	}
	done := make(chan error, 1)
	go func() {
		_, err := c.LookupIPAddr(ctx, "h.test")
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the next address lookup: %v", err)
		}
	case <-time.After(30 * time.Second): // a guard against a lock kept for good, not a timing
		t.Fatal("the next address lookup never returned: the cache's lock was kept")
	}
}
