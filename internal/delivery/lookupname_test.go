package delivery

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"umbra/internal/queue"
	"umbra/internal/resolver"
	"umbra/internal/resolver/dnstest"
)

// TestHungPolicyLookupsAreNamed: the MX and address lookups of a
// DNSSEC-signed destination answer, its MTA-STS TXT and TLSA lookups
// never do. The deferral names the lookup that hung, never the MX
// lookup that was answered.
func TestHungPolicyLookupsAreNamed(t *testing.T) {
	dns := dnstest.Start(t,
		"hang.test. 300 IN MX 10 mx1.hang.test.",
		"mx1.hang.test. 300 IN A 127.0.0.2",
	)
	dns.Secure("hang.test")
	dns.Drop("_mta-sts.hang.test")
	dns.Drop("_tcp.mx1.hang.test")
	cl, err := resolver.New(resolver.Config{Servers: []string{dns.Addr}, Timeout: 300 * time.Millisecond, Attempts: 1, TrustAD: true})
	if err != nil {
		t.Fatal(err)
	}
	w := newTLSWorldOn(t, resolver.NewCache(cl, resolver.CacheConfig{Budget: time.Second}))
	w.dns = dns
	r := w.deliver(message("a@hang.test"))
	if r.Outcome != queue.Deferred {
		t.Fatalf("%+v", r)
	}
	if strings.Contains(r.Reply, "MX lookup") || !strings.Contains(r.Reply, "TLSA lookup") {
		t.Fatalf("reply %q: want the TLSA lookup named, not the MX lookup", r.Reply)
	}
}

// TestHungSTSLookupIsNotNoPolicy: a REQUIRETLS message to a domain whose
// MTA-STS TXT lookup never answers is deferred naming that lookup — not
// failed for want of a policy the domain may well publish.
func TestHungSTSLookupIsNotNoPolicy(t *testing.T) {
	w := newTLSWorld(t, "hang.test. 300 IN MX 10 mx1.hang.test.", "mx1.hang.test. 300 IN A 127.0.0.2")
	w.dns.Drop("_mta-sts.hang.test")
	cert := w.ca.issue(t, "mx1.hang.test")
	mx := startMX(t, fmt.Sprintf("127.0.0.2:%d", w.port), &cert, true)
	m := message("a@hang.test")
	m.RequireTLS = true
	r := w.deliver(m)
	if r.Outcome != queue.Deferred || !strings.HasPrefix(r.Reply, "451 4.7.5") || !strings.Contains(r.Reply, "MTA-STS TXT lookup") {
		t.Fatalf("REQUIRETLS with the MTA-STS TXT lookup unanswered: %+v", r)
	}
	if len(mx.received()) != 0 {
		t.Fatal("REQUIRETLS message sent without a verified hop")
	}
}

// TestStoppedLookupIsNotAFailedLookup: a delivery stopped (shutdown)
// while its MX lookup waits is deferred as stopped — not as a failed MX
// lookup, which would count against the destination's window.
func TestStoppedLookupIsNotAFailedLookup(t *testing.T) {
	dns := dnstest.Start(t)
	dns.Drop("stop.test")
	cl, err := resolver.New(resolver.Config{Servers: []string{dns.Addr}, Timeout: 5 * time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	w := newTLSWorldOn(t, resolver.NewCache(cl, resolver.CacheConfig{Budget: 5 * time.Second}))
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	m := message("a@stop.test")
	r := w.d.Deliver(ctx, m, body, all(m))[0]
	if r.Outcome != queue.Deferred || strings.Contains(r.Reply, "failed") || !strings.HasPrefix(r.Reply, "451 4.3.2") || !strings.Contains(r.Reply, "shutting down") {
		t.Fatalf("stopped during the MX lookup: %+v", r)
	}
}
