package delivery

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/resolver"

	"github.com/miekg/dns"
)

// rt17d-F1 (TLS-1): a session opened for a message with "TLS-Required:
// No" (RFC 8689 §5) — in clear, over TLS that did not verify, or to an
// MX the MTA-STS policy does not list — stays in the pool; the next
// message to the domain, which the enforced policy protects, must not be
// sent over it: it is deferred 451 4.7.5 and never reaches the MX.
func TestPooledSessionMeetsNextMessagesPolicy(t *testing.T) {
	noPolicy := []byte("TLS-Required: No\r\nSubject: x\r\n\r\nhi\r\n")
	for _, tc := range []struct {
		name, certName string // "": the MX offers no STARTTLS
		unlisted       bool
		want           string
	}{
		{name: "no STARTTLS", want: "451 4.7.5"},
		{name: "certificate for another name", certName: "other.sts.test", want: "451 4.7.5"},
		{name: "MX not listed", certName: "mx2.sts.test", unlisted: true, want: "451 4.7.5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := stsWorld(t, "enforce")
			ip := "127.0.0.2"
			if tc.unlisted {
				w.dns.Remove("sts.test")
				w.dns.Add(t, "sts.test. 300 IN MX 10 mx2.sts.test.")
				ip = "127.0.0.3"
			}
			var mx *mxSink
			if tc.certName == "" {
				mx = startMX(t, fmt.Sprintf("%s:%d", ip, w.port), nil, false)
			} else {
				cert := w.ca.issue(t, tc.certName)
				mx = startMX(t, fmt.Sprintf("%s:%d", ip, w.port), &cert, false)
			}
			a := message("a@sts.test")
			if res := w.d.Deliver(context.Background(), a, noPolicy, all(a)); res[0].Outcome != queue.RelayedOK {
				t.Fatalf("TLS-Required: No: %+v", res)
			}
			for i := range 2 { // a new message, then its retry: neither over the pooled session
				b := message("b@sts.test")
				b.ID += queue.ID(10 + i)
				r := w.deliver(b)
				if r.Outcome != queue.Deferred || !strings.HasPrefix(r.Reply, tc.want) {
					t.Fatalf("message %d under the enforced policy after a TLS-Required: No delivery: %+v", i, r)
				}
			}
			if got := mx.received(); len(got) != 1 {
				t.Fatalf("MX received %d messages, want only the TLS-Required: No one", len(got))
			}
		})
	}
}

// The same under DANE: a session a "TLS-Required: No" message opened to
// an MX whose certificate matches no TLSA record carries nothing the
// TLSA records protect.
func TestPooledSessionMeetsNextMessagesDANE(t *testing.T) {
	other := newTestCA(t)
	cert := other.issue(t, "mx.dane.test")
	wrong := other.issue(t, "mx.dane.test") // another key: its record matches no certificate the MX presents
	w, _ := daneWorld(t, "3 1 1 "+spkiSHA256(wrong))
	mx := startMX(t, fmt.Sprintf("127.0.0.2:%d", w.port), &cert, false)
	a := message("a@dane.test")
	if res := w.d.Deliver(context.Background(), a, []byte("TLS-Required: No\r\nSubject: x\r\n\r\nhi\r\n"), all(a)); res[0].Outcome != queue.RelayedOK {
		t.Fatalf("TLS-Required: No: %+v", res)
	}
	b := message("b@dane.test")
	b.ID += 10
	if r := w.deliver(b); r.Outcome != queue.Deferred || !strings.HasPrefix(r.Reply, "451 4.7.5") {
		t.Fatalf("message under DANE after a TLS-Required: No delivery: %+v", r)
	}
	if got := mx.received(); len(got) != 1 {
		t.Fatalf("MX received %d messages, want only the TLS-Required: No one", len(got))
	}
}

// tlsaCounter counts the TLSA lookups the engine makes.
type tlsaCounter struct {
	resolver.Resolver
	n atomic.Int32
}

func (r *tlsaCounter) Lookup(ctx context.Context, name string, qtype uint16) (*resolver.Answer, error) {
	if qtype == dns.TypeTLSA {
		r.n.Add(1)
	}
	return r.Resolver.Lookup(ctx, name, qtype)
}

// A message offered a pooled session looks its host's TLSA records up
// once (TLS-1): a session whose opener applied the full decision needs no
// new one; after a "TLS-Required: No" opener the decision made for the
// pooled host serves the fresh attempt too, so a DNSSEC failure is not
// reported twice for one message.
func TestPooledSessionOneTLSALookupPerMessage(t *testing.T) {
	noPolicy := []byte("TLS-Required: No\r\nSubject: x\r\n\r\nhi\r\n")
	other := newTestCA(t)
	cert := other.issue(t, "mx.dane.test")
	for _, tc := range []struct {
		name    string
		tlsa    tls.Certificate // the certificate the TLSA record matches
		relaxed bool            // the first message says TLS-Required: No
		want    int32           // TLSA lookups for both messages
		outcome queue.Outcome   // the second message's
	}{
		{name: "full opener", tlsa: cert, want: 1, outcome: queue.RelayedOK},
		{name: "relaxed opener, session meets", tlsa: cert, relaxed: true, want: 2, outcome: queue.RelayedOK},
		{name: "relaxed opener, session falls short", tlsa: other.issue(t, "mx.dane.test"), relaxed: true, want: 2, outcome: queue.Deferred},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, _ := daneWorld(t, "3 1 1 "+spkiSHA256(tc.tlsa))
			cr := &tlsaCounter{Resolver: w.res}
			w.res = cr
			w.build(t, config.TLSOpportunistic, true, true)
			startMX(t, fmt.Sprintf("127.0.0.2:%d", w.port), &cert, false)
			a, first := message("a@dane.test"), body
			if tc.relaxed {
				first = noPolicy
			}
			if res := w.d.Deliver(context.Background(), a, first, all(a)); res[0].Outcome != queue.RelayedOK {
				t.Fatalf("first message: %+v", res)
			}
			b := message("b@dane.test")
			b.ID += 10
			if r := w.deliver(b); r.Outcome != tc.outcome {
				t.Fatalf("second message: %+v", r)
			}
			if n := cr.n.Load(); n != tc.want {
				t.Errorf("%d TLSA lookups for two messages, want %d", n, tc.want)
			}
		})
	}
}
