package delivery

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/resolver"
	"umbra/internal/resolver/dnstest"
)

// tlsRequiredNoBody is a message whose sender asks that the recipient
// domain's DANE and MTA-STS policies not stop it (RFC 8689 §5).
var tlsRequiredNoBody = []byte("TLS-Required: No\r\nSubject: x\r\n\r\nhi\r\n")

// lookupFailWorld is danesf.t37.test in a zone answered with AD set
// (trust_ad), its MX mxd3 on 127.0.0.215, whose TLSA lookup (and the
// MTA-STS TXT lookup) is answered SERVFAIL.
func lookupFailWorld(t *testing.T, connectorTLS string) (*tlsWorld, *dnstest.Server, *mxSink) {
	t.Helper()
	port := freePort(t, "127.0.0.215")
	dns := dnstest.StartOn(t, fmt.Sprintf("127.0.0.215:%d", freePort(t, "127.0.0.215")),
		"danesf.t37.test. 300 IN MX 10 mxd3.t37.test.",
		"mxd3.t37.test. 300 IN A 127.0.0.215")
	dns.Secure(".")
	dns.Fail(fmt.Sprintf("_%d._tcp.mxd3.t37.test", port))
	dns.Fail("_mta-sts.danesf.t37.test")
	res, err := resolver.New(resolver.Config{Servers: []string{dns.Addr}, TrustAD: true, Timeout: 2 * time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	w := newTLSWorldOnPort(t, res, port)
	w.build(t, connectorTLS, true, true)
	cert := w.ca.issue(t, "mxd3.t37.test")
	mx := startMX(t, fmt.Sprintf("127.0.0.215:%d", port), &cert, false)
	return w, dns, mx
}

// RFC 8689 §5: a "TLS-Required: No" message is delivered with the
// connector's setting when a DANE check cannot even be made — the TLSA
// lookup of its MX fails (SERVFAIL in a signed zone), the MTA-STS TXT
// lookup too — as it is when the check fails; a message without the
// header is held (451 4.7.5, TLSA lookup failed), and never by the
// session the first opened (a pooled session carries only what its
// opening checked).
func TestTLSRequiredNoDeliveredWhenTLSALookupFails(t *testing.T) {
	w, _, mx := lookupFailWorld(t, config.TLSOpportunistic)
	m := message("a@danesf.t37.test")
	res := w.d.Deliver(context.Background(), m, tlsRequiredNoBody, all(m))
	if res[0].Outcome != queue.RelayedOK || len(mx.received()) != 1 {
		t.Fatalf("TLS-Required: No, TLSA lookup SERVFAIL: %+v", res)
	}
	if !mx.received()[0].tls {
		t.Errorf("not sent over the opportunistic connector's TLS")
	}
	if got := w.rep.list(); len(got) != 1 || got[0] != "danesf.t37.test tlsa mxd3.t37.test dnssec-invalid" {
		t.Errorf("reports %q: the failed lookup counted once for the host, its session not again", got)
	}
	r := w.deliver(message("b@danesf.t37.test"))
	if r.Outcome != queue.Deferred || !strings.Contains(r.Reply, "TLSA lookup failed") || len(mx.received()) != 1 {
		t.Fatalf("without the header, TLSA lookup SERVFAIL: %+v (received %d)", r, len(mx.received()))
	}
}

// The same with a connector whose tls is none: at least opportunistic
// TLS, as for a DANE check that failed.
func TestTLSRequiredNoTLSALookupFailedStillTriesTLS(t *testing.T) {
	w, _, mx := lookupFailWorld(t, config.TLSNone)
	m := message("a@danesf.t37.test")
	res := w.d.Deliver(context.Background(), m, tlsRequiredNoBody, all(m))
	if res[0].Outcome != queue.RelayedOK || len(mx.received()) != 1 || !mx.received()[0].tls {
		t.Fatalf("TLS-Required: No, TLSA lookup SERVFAIL, connector tls none: %+v", res)
	}
}

// The MX lookup, needed to deliver at all, still holds a
// "TLS-Required: No" message when it fails.
func TestTLSRequiredNoMXLookupFailureStillDefers(t *testing.T) {
	w, dns, mx := lookupFailWorld(t, config.TLSOpportunistic)
	dns.Fail("danesf.t37.test")
	m := message("a@danesf.t37.test")
	res := w.d.Deliver(context.Background(), m, tlsRequiredNoBody, all(m))
	if res[0].Outcome != queue.Deferred || len(mx.received()) != 0 {
		t.Fatalf("TLS-Required: No, MX lookup SERVFAIL: %+v", res)
	}
}
