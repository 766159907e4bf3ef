package delivery

import (
	"context"
	"net"
	"strings"
	"testing"

	"umbra/internal/config"
	"umbra/internal/queue"
)

// SMTP-4 (rt27c F2's run-time sibling): mailbox.lmtp at 0.0.0.0 or :: is
// refused at load, but an LMTP host given by a name that resolves to the
// unspecified address was connected to — which reaches this machine
// itself (here the LMTP sink on loopback) — and so were topology server
// names (relay, heartbeat, callout: the same dial). A name is refused
// when its addresses are looked up: its unspecified addresses are never
// connected to, and a name with no other is a deferral naming it.
func TestSMTP4LMTPNameResolvingToUnspecifiedRefused(t *testing.T) {
	s := startSink(t, "127.0.0.1:0", true, nil)
	_, port, _ := net.SplitHostPort(s.addr)
	for _, unspecified := range []string{"0.0.0.0", "::", "::ffff:0.0.0.0"} {
		t.Run(unspecified, func(t *testing.T) {
			dns := &fakeDNS{hosts: map[string][]string{"lmtp.test": {unspecified}}}
			d := newDeliverer(t, dns, config.Mailbox{LMTP: net.JoinHostPort("lmtp.test", port)})
			m := message("ok@example.test")
			got := byRcpt(m, d.Deliver(context.Background(), m, body, all(m)))
			r := got["ok@example.test"]
			if r.Outcome != queue.Deferred || !strings.Contains(r.Reply, "host name lmtp.test resolves to "+unspecified+", the unspecified address") {
				t.Errorf("LMTP host resolving to %s: %+v; want deferred, naming the name and the address", unspecified, r)
			}
		})
	}
	// A name with another address too: the unspecified one is skipped,
	// the other delivered to.
	dns := &fakeDNS{hosts: map[string][]string{"lmtp.test": {"0.0.0.0", "127.0.0.1"}}}
	d := newDeliverer(t, dns, config.Mailbox{LMTP: net.JoinHostPort("lmtp.test", port)})
	m := message("ok@example.test")
	if r := byRcpt(m, d.Deliver(context.Background(), m, body, all(m)))["ok@example.test"]; r.Outcome != queue.DeliveredOK {
		t.Errorf("LMTP host resolving to 0.0.0.0 and 127.0.0.1: %+v; want delivered to 127.0.0.1", r)
	}
}
