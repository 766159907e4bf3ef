package msgauth

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"umbra/internal/config"
	"umbra/internal/resolver"
	"umbra/internal/smtp"
)

// panickyUpstream is a resolver upstream that panics (a defect in the
// parsing of a response, say): the cache recovers it and its callers
// get a temporary error that is resolver.ErrPanicked.
type panickyUpstream struct{}

func (panickyUpstream) Lookup(context.Context, string, uint16) (*resolver.Answer, error) {
	panic("injected panic in the resolver's lookup")
}

// OPS-2, EDGE-1: the sibling of the DNS list and HELO checks'
// TestDNSBLResolverPanicBlamesNoList and
// TestHELOResolverPanicCountedPanicked in message authentication: a
// method whose lookup the resolver answered with its recovered panic
// (resolver.ErrPanicked, counted and logged at ERROR there) is umbra's
// defect, not DNS failing: umbra_msgauth_results_total counts it
// result="panicked", never "temperror" (which the package's doc reads
// as DNS failed). The message is still answered as one that could not
// be evaluated (451, never a 5xx). Seen to fail first: spf temperror 1.
func TestMessageAuthenticationResolverPanicCountedPanicked(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry())
	cfg := config.MessageAuthentication{Profile: "internet", AuthservID: "mx.example.test", SPF: "reject", HeloSPF: "off",
		DKIM: "off", ARC: "off", DMARC: "off", MaxSignatures: 5, Timeout: config.Duration(10e9)}
	c := New(cfg, resolver.NewCache(panickyUpstream{}, resolver.CacheConfig{}), slog.New(slog.NewTextHandler(io.Discard, nil)), m)
	tx := &smtp.Transaction{From: "a@example.net", Content: []byte(message("a@example.net", "panic"))}
	v := c.Data(context.Background(), &smtp.ConnInfo{IP: netip.MustParseAddr("192.0.2.9"), Helo: "mail.example.net"}, tx)
	if v.Reply == nil || v.Reply.Code != 451 {
		t.Fatalf("verdict %v, want 451 (could not be evaluated), never a 5xx", v.Reply)
	}
	if n := testutil.ToFloat64(m.results.WithLabelValues("spf", "temperror")); n != 0 {
		t.Fatalf("the resolver's panic counted spf temperror (%v): blamed on DNS", n)
	}
	if n := testutil.ToFloat64(m.results.WithLabelValues("spf", "panicked")); n != 1 {
		t.Fatalf("spf panicked %v, want 1", n)
	}
}
