package resolver_test

import (
	"context"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"umbra/internal/resolver/dnstest"
)

// RFC 1035 §4.1, RFC 7766 §6.2.1: the reply a truncated UDP reply sends
// umbra to ask over TCP for is checked whole as every reply is — a TCP
// reply with TC set whose header counts nine answer records and that
// holds one is a broken reply (a temporary failure), never the one MX
// it holds taken for the whole answer. The TC bit marks a reply cut
// short; it excuses nothing in the reply that is used.
func TestTruncatedTCPReplyCheckedWhole(t *testing.T) {
	srv := dnstest.StartOn(t, "127.0.0.214:15000",
		"fewer.test. 60 IN MX 10 mx.fewer.test.",
		"whole.test. 60 IN MX 10 mx.whole.test.",
	)
	srv.Mangle("fewer.test", func(r *dns.Msg) []byte { // TC, ANCOUNT 9, one MX: over UDP and TCP
		r.Truncated = true
		p, _ := r.Pack()
		p[6], p[7] = 0, 9
		return p
	})
	c := newClient(t, srv.Addr)
	ctx := context.Background()
	mx, err := c.LookupMX(ctx, "fewer.test")
	if err == nil {
		t.Fatalf("MX fewer.test: %v, no error: a TCP reply cut (TC) holding 1 of 9 answers taken whole", mx)
	}
	if de := dnsErr(t, err); !de.IsTemporary || de.IsNotFound || !strings.Contains(err.Error(), "the header counts 9 answer records, the packet holds 1") {
		t.Errorf("MX fewer.test: %v, want temporary, naming the counts", err)
	}
	if mx, err := c.LookupMX(ctx, "whole.test"); err != nil || len(mx) != 1 {
		t.Errorf("whole reply: %v %v", mx, err)
	}
}
