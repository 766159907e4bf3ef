package delivery

import (
	"context"
	"strings"
	"testing"
	"umbra/internal/queue"

	"umbra/internal/config"
)

// TestOPS2RedirectSessionCountedAsRedirect (rt39 F2): an operator's
// redirect of a send connector's queue is counted in
// umbra_outbound_sessions_total as destination "redirect", as
// umbra_delivery_results_total counts its result — not under the
// connector whose TLS and auth settings it borrows; a TLS policy it
// cannot meet there is counted as "redirect"'s failure too.
func TestOPS2RedirectSessionCountedAsRedirect(t *testing.T) {
	plain := startSink(t, "127.0.0.141:8020", false, nil)
	conn := func(name, domain, policy string) config.SendConnector {
		return config.SendConnector{Name: name, AddressSpaces: []config.AddressSpace{{Domain: domain, Cost: 1}},
			SmartHosts: []string{"127.0.0.141:8021"}, TLS: policy} // never reached: the mail is redirected
	}
	d := newDeliverer(t, &fakeDNS{}, config.Mailbox{}, conn("s451", "s451.example", config.TLSNone),
		conn("strict", "strict.example", config.TLSRequired))
	o := &outboundRecorder{sessions: map[[2]string]int{}, failures: map[[2]string]int{}}
	d.SetOutbound(o)
	for _, rcpt := range []string{"a@strict.example", "a@s451.example"} { // strict first: no session to reuse {
		m := message(rcpt)
		m.Rcpts[0].Redirect = plain.addr
		d.Deliver(context.Background(), m, body, all(m))
	}
	if want := (map[[2]string]int{{"redirect", "none"}: 1}); !mapsEqual(o.sessions, want) {
		t.Errorf("sessions %v, want %v: a redirect's session is the redirect's, with the TLS setting (none) of s451", o.sessions, want)
	}
	if want := (map[[2]string]int{{"redirect", "required"}: 1}); !mapsEqual(o.failures, want) {
		t.Errorf("TLS failures %v, want %v", o.failures, want)
	}
	if got := plain.received(); len(got) != 1 {
		t.Errorf("the redirect target got %d messages, want 1 (s451's)", len(got))
	}
}

// TestRedirectPooledSessionNotReusedAcrossConnectors: two queues
// redirected to one target borrow the TLS and auth settings of their own
// send connectors; the session one opened (s451's, tls: none) and kept
// for reuse never carries the other's mail (tls: required) — it is
// deferred for want of TLS, not sent in clear.
func TestRedirectPooledSessionNotReusedAcrossConnectors(t *testing.T) {
	plain := startSink(t, "127.0.0.141:8022", false, nil)
	conn := func(name, domain, policy string) config.SendConnector {
		return config.SendConnector{Name: name, AddressSpaces: []config.AddressSpace{{Domain: domain, Cost: 1}},
			SmartHosts: []string{"127.0.0.141:8023"}, TLS: policy}
	}
	d := newDeliverer(t, &fakeDNS{}, config.Mailbox{}, conn("s451", "s451.example", config.TLSNone),
		conn("strict", "strict.example", config.TLSRequired))
	var res []queue.Result
	for _, rcpt := range []string{"a@s451.example", "a@strict.example"} {
		m := message(rcpt)
		m.Rcpts[0].Redirect = plain.addr
		res = d.Deliver(context.Background(), m, body, all(m))
	}
	if got := plain.received(); len(got) != 1 {
		t.Fatalf("the redirect target got %d messages, want 1: strict's (tls: required) went on s451's session in clear", len(got))
	}
	if len(res) != 1 || res[0].Outcome != queue.Deferred || !strings.HasPrefix(res[0].Reply, "4") {
		t.Fatalf("strict's redirected recipient: %+v, want deferred for want of TLS", res)
	}
}

// TestRedirectOneMessageEachRecipientItsConnector: one message whose
// recipients of two connectors' domains are redirected to one target:
// each recipient goes with its own connector's settings — strict's
// (tls: required) is not carried in the session of s451's (tls: none).
func TestRedirectOneMessageEachRecipientItsConnector(t *testing.T) {
	plain := startSink(t, "127.0.0.141:8024", false, nil)
	conn := func(name, domain, policy string) config.SendConnector {
		return config.SendConnector{Name: name, AddressSpaces: []config.AddressSpace{{Domain: domain, Cost: 1}},
			SmartHosts: []string{"127.0.0.141:8025"}, TLS: policy}
	}
	d := newDeliverer(t, &fakeDNS{}, config.Mailbox{}, conn("s451", "s451.example", config.TLSNone),
		conn("strict", "strict.example", config.TLSRequired))
	m := message("a@s451.example", "b@strict.example")
	m.Rcpts[0].Redirect = plain.addr
	m.Rcpts[1].Redirect = plain.addr
	res := d.Deliver(context.Background(), m, body, all(m))
	for _, r := range res {
		if m.Rcpts[r.Rcpt].Addr == "b@strict.example" && r.Outcome != queue.Deferred {
			t.Fatalf("b@strict.example (tls: required) delivered in clear with s451's settings: %+v", res)
		}
	}
}
