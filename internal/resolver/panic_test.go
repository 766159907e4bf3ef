package resolver_test

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"

	"umbra/internal/resolver"
)

// panicky is an Upstream whose first lookup panics (a defect in the
// parsing of a hostile response, say) and whose later ones answer.
type panicky struct{ n atomic.Int32 }

func (p *panicky) Lookup(ctx context.Context, name string, qtype uint16) (*resolver.Answer, error) {
	if p.n.Add(1) == 1 {
		panic("injected panic in an upstream lookup")
	}
	rr, _ := dns.NewRR(name + " 60 IN A 127.0.0.1")
	return &resolver.Answer{RRs: []dns.RR{rr}, TTL: 60}, nil
}

// SPEC EDGE-1, OPS-2: a panic in a lookup the cache runs on its own
// goroutine (no lock held there) is recovered: the callers waiting for
// it get a temporary error, it is counted (umbra_dns_panics_total), the
// answer is not kept, and the next question is asked again and
// answered. Seen to fail first: the test binary died of the panic — in
// the daemon, every session and delivery with it.
func TestCacheLookupPanicRecovered(t *testing.T) {
	up := &panicky{}
	c, _, m := newCache(t, up, resolver.CacheConfig{})
	_, err := c.Lookup(context.Background(), "a.test", dns.TypeA)
	var de *net.DNSError
	if !errors.As(err, &de) || !de.IsTemporary {
		t.Fatalf("after the panic: %v, want a temporary DNS error", err)
	}
	if n := m.PanicCount(); n != 1 {
		t.Fatalf("umbra_dns_panics_total %v, want 1", n)
	}
	a, err := c.Lookup(context.Background(), "a.test", dns.TypeA)
	if err != nil || a == nil || len(a.RRs) != 1 {
		t.Fatalf("the next lookup: %+v, %v", a, err)
	}
}
