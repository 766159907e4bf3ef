package resolver_test

import (
	"context"
	"testing"
	"time"

	"umbra/internal/resolver"
	"umbra/internal/resolver/dnstest"
)

// dns.timeout is one attempt at one server, attempts the times the list
// is tried: one lookup takes at most timeout × attempts × servers (the
// cache's budget, as the daemon builds it). An address lookup is one
// lookup — its A and AAAA questions asked together — not one budget a
// record type: a server that never answers costs it the budget once.
func TestAddressLookupBoundedByOneBudget(t *testing.T) {
	silent := dnstest.Start(t)
	silent.Drop(".")
	const timeout, attempts = 500 * time.Millisecond, 2
	c, err := resolver.New(resolver.Config{Servers: []string{silent.Addr}, Timeout: timeout, Attempts: attempts})
	if err != nil {
		t.Fatal(err)
	}
	budget := timeout * attempts
	cache := resolver.NewCache(c, resolver.CacheConfig{Budget: budget})
	for name, r := range map[string]interface {
		LookupHost(context.Context, string) ([]string, error)
	}{"client": c, "cache": cache} {
		start := time.Now()
		if _, err := r.LookupHost(context.Background(), "mx.hang.test"); err == nil {
			t.Fatalf("%s: a server that never answers gave addresses", name)
		}
		if took := time.Since(start); took > budget+budget/2 {
			t.Errorf("%s: the address lookup took %v, more than one lookup's %v (timeout %v × %d attempts × 1 server)", name, took, budget, timeout, attempts)
		}
	}
}
