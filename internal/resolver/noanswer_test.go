package resolver_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"umbra/internal/resolver"
	"umbra/internal/resolver/dnstest"
)

// A server that never answers is said so, in the words of the setting
// that bounds the wait — "no answer from SERVER within 300ms
// (dns.timeout)" — every time: never the socket's "i/o timeout" nor the
// lookup's own bound ("context deadline exceeded"), whichever of the two
// ends the wait first; through the cache too. An empty UDP reply is
// named for what it is.
func TestNoAnswerNamesDNSTimeout(t *testing.T) {
	srv := dnstest.StartOn(t, "127.0.0.215:15612", "quiet.test. 60 IN MX 10 mx.quiet.test.")
	srv.Drop("quiet.test")
	srv.Mangle("empty.test", func(*dns.Msg) []byte { return []byte{} })
	c, err := resolver.New(resolver.Config{Servers: []string{srv.Addr}, Timeout: 300 * time.Millisecond, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	cache := resolver.NewCache(c, resolver.CacheConfig{Budget: c.Budget()})
	want := "no answer from " + srv.Addr + " within 300ms (dns.timeout)"
	for i := range 8 {
		var r resolver.Resolver = c
		if i%2 == 1 {
			r = cache
		}
		_, err := r.LookupMX(context.Background(), "quiet.test")
		if err == nil || !strings.HasSuffix(err.Error(), want) {
			t.Fatalf("try %d: %v, want it to end %q", i, err, want)
		}
		if de := dnsErr(t, err); !de.IsTimeout || !de.IsTemporary {
			t.Errorf("try %d: %+v, want a temporary timeout", i, de)
		}
	}
	c2, err := resolver.New(resolver.Config{Servers: []string{srv.Addr}, Timeout: 200 * time.Millisecond, Attempts: 2})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c2.LookupMX(context.Background(), "quiet.test")
	if want := "no answer from " + srv.Addr + " within 200ms (dns.timeout) at any of 2 tries (dns.attempts 2)"; err == nil || !strings.HasSuffix(err.Error(), want) {
		t.Errorf("two attempts: %v, want it to end %q", err, want)
	}
	_, err = c.LookupMX(context.Background(), "empty.test")
	if err == nil || !strings.Contains(err.Error(), "malformed reply: empty (0 bytes, no DNS header)") {
		t.Errorf("empty UDP reply: %v", err)
	}
}
