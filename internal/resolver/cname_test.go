package resolver_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"umbra/internal/resolver"
	"umbra/internal/resolver/dnstest"
)

// A server that answers an alias with its CNAME alone (local data for a
// name out of its zone does) leaves the chain to the client: umbra asks
// for the target itself, and the answer says which aliases it followed.
func TestLookupFollowsCNAMETheServerLeft(t *testing.T) {
	srv := dnstest.Start(t,
		"alias.cn.test. 300 IN CNAME mx.ext.test.",
		"mx.ext.test. 300 IN A 127.0.0.17",
		"a1.cn.test. 300 IN CNAME a2.cn.test.",
		"a2.cn.test. 300 IN CNAME a3.cn.test.",
		"a3.cn.test. 300 IN CNAME mx.ext.test.",
		"gone.cn.test. 300 IN CNAME nohost.ext.test.",
		"ext.test. 300 IN SOA ns.ext.test. h.ext.test. 1 2 3 4 60",
	)
	srv.NoChase("cn.test")
	c := newClient(t, srv.Addr)
	ctx := context.Background()
	hosts, err := c.LookupHost(ctx, "alias.cn.test")
	if err != nil || strings.Join(hosts, ",") != "127.0.0.17" {
		t.Fatalf("alias whose target the server left out: %v, %v", hosts, err)
	}
	a, err := c.Lookup(ctx, "a1.cn.test", dns.TypeA)
	if err != nil || len(a.RRs) != 1 || strings.Join(a.CNAMEs, " ") != "a2.cn.test. a3.cn.test. mx.ext.test." {
		t.Fatalf("chain of three: %+v, %v", a, err)
	}
	_, err = c.LookupHost(ctx, "gone.cn.test")
	de := dnsErr(t, err)
	if !de.IsNotFound || de.IsTemporary || !strings.Contains(de.Error(), "nohost.ext.test") {
		t.Fatalf("alias of a name that does not exist: %+v (%v): want a denial naming the target", de, err)
	}
}

// The chain is bounded and loop-safe: a loop, or more aliases than
// umbra follows, is an error that says so (temporary, as a validating
// resolver's SERVFAIL would be), never a hang or a denial.
func TestLookupCNAMELoopAndLength(t *testing.T) {
	recs := []string{"x.loop.test. 300 IN CNAME y.loop.test.", "y.loop.test. 300 IN CNAME x.loop.test."}
	for i := range 12 {
		recs = append(recs, fmt.Sprintf("l%d.long.test. 300 IN CNAME l%d.long.test.", i, i+1))
	}
	recs = append(recs, "l12.long.test. 300 IN A 127.0.0.9")
	for _, chase := range []bool{false, true} {
		srv := dnstest.Start(t, recs...)
		if !chase {
			srv.NoChase("test")
		}
		c := newClient(t, srv.Addr)
		for name, want := range map[string]string{"x.loop.test": "CNAME loop", "l0.long.test": "CNAME chain longer than"} {
			_, err := c.LookupHost(context.Background(), name)
			de := dnsErr(t, err)
			if de.IsNotFound || !de.IsTemporary || !strings.Contains(de.Error(), want) {
				t.Errorf("server chases %v, %s: %v (%+v), want %q", chase, name, err, de, want)
			}
		}
		if q := srv.Queries(); q > 40 {
			t.Errorf("%d queries for two lookups of bounded chains", q)
		}
	}
	_ = resolver.Answer{}
}
