package resolver_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"umbra/internal/clock"
	"umbra/internal/resolver"
	"umbra/internal/resolver/dnstest"
)

func newCache(t *testing.T, up resolver.Upstream, cfg resolver.CacheConfig) (*resolver.Cache, *clock.Fake, *resolver.Metrics) {
	t.Helper()
	fc := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	cfg.Clock = fc
	cfg.Metrics = resolver.NewMetrics(prometheus.NewRegistry())
	return resolver.NewCache(up, cfg), fc, cfg.Metrics
}

// Positive answers are kept for their TTL, capped by MaxTTL.
func TestCacheKeepsAnswersForTheirTTL(t *testing.T) {
	srv := dnstest.Start(t,
		"short.test. 60 IN A 127.0.0.1",
		"long.test. 86400 IN A 127.0.0.2",
	)
	c, fc, _ := newCache(t, newClient(t, srv.Addr), resolver.CacheConfig{MaxTTL: 10 * time.Minute})
	ctx := context.Background()
	ask := func(name string) {
		t.Helper()
		if _, err := c.LookupHost(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	ask("short.test") // A and AAAA (NODATA, no SOA: kept NegativeTTL)
	ask("long.test")
	base := srv.Queries()
	ask("short.test")
	ask("long.test")
	if n := srv.Queries() - base; n != 0 {
		t.Fatalf("cached answers asked again: %d queries", n)
	}
	fc.Advance(61 * time.Second)
	ask("short.test")
	if n := srv.Queries() - base; n != 1 {
		t.Fatalf("after the 60 s TTL: %d queries, want 1 (the A record only)", n)
	}
	fc.Advance(10 * time.Minute) // past MaxTTL, far below the 86400 s TTL
	base = srv.Queries()
	ask("long.test")
	if n := srv.Queries() - base; n != 2 {
		t.Fatalf("after max_ttl: %d queries, want 2 (A, and AAAA whose denial expired too)", n)
	}
}

// Denials are kept for the negative TTL of RFC 2308 (min of the SOA's TTL
// and MINIMUM), capped by NegativeTTL; errors that are not denials are
// never kept.
func TestCacheNegativeAnswers(t *testing.T) {
	srv := dnstest.Start(t,
		"zone.test. 3600 IN SOA ns.zone.test. host.zone.test. 1 3600 600 86400 30",
		"zone.test. 300 IN MX 10 mx.zone.test.",
		"big.test. 3600 IN SOA ns.big.test. host.big.test. 1 3600 600 86400 86400",
	)
	c, fc, _ := newCache(t, newClient(t, srv.Addr), resolver.CacheConfig{NegativeTTL: 5 * time.Minute})
	ctx := context.Background()
	notFound := func(name string) {
		t.Helper()
		_, err := c.LookupTXT(ctx, name)
		if de := dnsErr(t, err); !de.IsNotFound || de.IsTemporary || de.Name != name {
			t.Fatalf("%s: %+v", name, de)
		}
	}
	notFound("nx.zone.test") // NXDOMAIN, SOA minimum 30 s
	notFound("zone.test")    // NODATA
	notFound("nx.big.test")  // SOA minimum 1 day: capped at 5 min
	base := srv.Queries()
	notFound("nx.zone.test")
	notFound("zone.test")
	notFound("nx.big.test")
	if n := srv.Queries() - base; n != 0 {
		t.Fatalf("denials asked again: %d", n)
	}
	fc.Advance(31 * time.Second)
	notFound("nx.zone.test")
	notFound("zone.test")
	notFound("nx.big.test")
	if n := srv.Queries() - base; n != 2 {
		t.Fatalf("after the SOA minimum: %d queries, want 2", n)
	}
	fc.Advance(5 * time.Minute)
	base = srv.Queries()
	notFound("nx.big.test")
	if n := srv.Queries() - base; n != 1 {
		t.Fatalf("after negative_ttl: %d queries, want 1", n)
	}

	srv.Fail("broken.test")
	for range 2 {
		_, err := c.LookupTXT(ctx, "x.broken.test")
		if de := dnsErr(t, err); !de.IsTemporary || de.IsNotFound {
			t.Fatalf("SERVFAIL: %+v", de)
		}
	}
	if srv.Queries()-base != 3 {
		t.Fatalf("a SERVFAIL was cached: %d queries", srv.Queries()-base)
	}
}

// A cached answer keeps the Secure flag of the response it came from, and
// answers from a validated zone are not mixed with unvalidated ones.
func TestCacheKeepsSecureFlag(t *testing.T) {
	srv := dnstest.Start(t,
		"_25._tcp.mx.signed.test. 300 IN TLSA 3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		"mx.plain.test. 300 IN A 127.0.0.3",
	)
	srv.Secure("signed.test")
	up, err := resolver.New(resolver.Config{Servers: []string{srv.Addr}, Timeout: time.Second, Attempts: 1, TrustAD: true})
	if err != nil {
		t.Fatal(err)
	}
	c, _, _ := newCache(t, up, resolver.CacheConfig{})
	ctx := context.Background()
	for i := range 2 {
		a, err := c.Lookup(ctx, "_25._tcp.mx.signed.test", dns.TypeTLSA)
		if err != nil || !a.Secure || len(a.RRs) != 1 {
			t.Fatalf("round %d: signed answer %+v, %v", i, a, err)
		}
		a, err = c.Lookup(ctx, "mx.plain.test", dns.TypeA)
		if err != nil || a.Secure {
			t.Fatalf("round %d: plain answer %+v, %v", i, a, err)
		}
		a, err = c.Lookup(ctx, "_25._tcp.mx.plain.test", dns.TypeTLSA)
		if err == nil || a == nil || a.Secure {
			t.Fatalf("round %d: insecure denial %+v, %v", i, a, err)
		}
	}
	if srv.Queries() != 3 {
		t.Fatalf("%d queries, want 3", srv.Queries())
	}
}

// The cache holds at most Size answers, dropping the least recently used.
func TestCacheEvictsLeastRecentlyUsed(t *testing.T) {
	var recs []string
	for i := range 5 {
		recs = append(recs, fmt.Sprintf("h%d.test. 300 IN TXT \"%d\"", i, i))
	}
	srv := dnstest.Start(t, recs...)
	c, _, _ := newCache(t, newClient(t, srv.Addr), resolver.CacheConfig{Size: 3})
	ctx := context.Background()
	for _, i := range []int{0, 1, 2, 0, 3, 4} { // 0 used again: 1 and 2 go
		if _, err := c.LookupTXT(ctx, fmt.Sprintf("h%d.test", i)); err != nil {
			t.Fatal(err)
		}
	}
	if c.Len() != 3 {
		t.Fatalf("cache holds %d answers, want 3", c.Len())
	}
	base := srv.Queries()
	for _, i := range []int{0, 3, 4} {
		c.LookupTXT(ctx, fmt.Sprintf("h%d.test", i))
	}
	if srv.Queries() != base {
		t.Fatal("a recently used answer was evicted")
	}
	c.LookupTXT(ctx, "h1.test")
	if srv.Queries() != base+1 {
		t.Fatal("the least recently used answer was kept")
	}
}

// gate is an Upstream that holds every lookup until released.
type gate struct {
	up      resolver.Upstream
	release chan struct{}
	mu      sync.Mutex
	calls   int
}

func (g *gate) Lookup(ctx context.Context, name string, qtype uint16) (*resolver.Answer, error) {
	g.mu.Lock()
	g.calls++
	g.mu.Unlock()
	<-g.release
	return g.up.Lookup(ctx, name, qtype)
}

// Concurrent identical questions are asked upstream once; a caller that
// gives up does not fail the others.
func TestCacheSingleFlight(t *testing.T) {
	srv := dnstest.Start(t, "mx.test. 300 IN MX 10 mx1.mx.test.")
	g := &gate{up: newClient(t, srv.Addr), release: make(chan struct{})}
	c, _, m := newCache(t, g, resolver.CacheConfig{})
	const n = 20
	quitter, quit := context.WithCancel(context.Background())
	quitErr := make(chan error, 1)
	go func() { _, err := c.LookupMX(quitter, "mx.test"); quitErr <- err }()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mx, err := c.LookupMX(context.Background(), "MX.test.")
			if err == nil && (len(mx) != 1 || mx[0].Host != "mx1.mx.test.") {
				err = fmt.Errorf("MX = %v", mx)
			}
			errs <- err
		}()
	}
	shared := m.CacheCount("shared")
	for i := 0; shared()+m.CacheCount("miss")() < n+1; i++ {
		if i > 5000 {
			t.Fatal("the lookups did not all start")
		}
		time.Sleep(time.Millisecond)
	}
	quit()
	if err := <-quitErr; err == nil {
		t.Fatal("a cancelled caller got an answer")
	} else if de := dnsErr(t, err); !de.IsTemporary {
		t.Fatalf("cancelled: %+v", de)
	}
	close(g.release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if g.calls != 1 || srv.Queries() != 1 {
		t.Fatalf("%d upstream lookups, %d queries; want 1", g.calls, srv.Queries())
	}
}

// Metrics count upstream questions by type and outcome.
func TestCacheMetrics(t *testing.T) {
	srv := dnstest.Start(t, "a.test. 300 IN A 127.0.0.1")
	reg := prometheus.NewRegistry()
	m := resolver.NewMetrics(reg)
	c := resolver.NewCache(newClient(t, srv.Addr), resolver.CacheConfig{Metrics: m})
	ctx := context.Background()
	c.Lookup(ctx, "a.test", dns.TypeA)
	c.Lookup(ctx, "a.test", dns.TypeA)
	c.Lookup(ctx, "nx.test", dns.TypeA)
	c.Lookup(ctx, "a.test", dns.TypeMX)
	c.Lookup(ctx, "a.test", dns.TypeHINFO)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP umbra_dns_cache_lookups_total Lookups by how the cache served them: hit, miss (asked upstream), shared (joined a question already asked); evicted counts answers dropped for space.
# TYPE umbra_dns_cache_lookups_total counter
umbra_dns_cache_lookups_total{result="evicted"} 0
umbra_dns_cache_lookups_total{result="hit"} 1
umbra_dns_cache_lookups_total{result="miss"} 4
umbra_dns_cache_lookups_total{result="shared"} 0
`), "umbra_dns_cache_lookups_total"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		typ, outcome string
		want         float64
	}{{"A", "ok", 1}, {"A", "nxdomain", 1}, {"MX", "nodata", 1}, {"other", "nodata", 1}, {"A", "timeout", 0}} {
		if got := m.QueryCount(c.typ, c.outcome); got != c.want {
			t.Errorf("queries{type=%s,outcome=%s} = %v, want %v", c.typ, c.outcome, got, c.want)
		}
	}
	if n, err := testutil.GatherAndCount(reg, "umbra_dns_query_duration_seconds"); err != nil || n != 3 {
		t.Fatalf("latency series: %d, %v", n, err)
	}
}
