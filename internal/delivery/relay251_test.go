package delivery

import (
	"context"
	"net"
	"testing"

	"umbra/internal/config"
	"umbra/internal/queue"
)

// SPEC Q-3 (RFC 3461 §4.2): a next hop that answers RCPT "251 User not
// local; will forward" took the recipient: it is relayed like one
// answered 250, and with a next hop that does not offer DSN the success
// is this server's to report (DSNPassed false), so a NOTIFY=SUCCESS
// sender gets its "relayed" DSN (queue TestDSNKeepsTheHostsCodeAndStatus
// reads it).
func TestRcpt251IsRelayedWithoutDSNPassed(t *testing.T) {
	for _, pipelining := range []bool{false, true} {
		s := &scripted{pipelining: pipelining, refuse: map[string]string{"fwd@example.net": "251 2.1.5 User not local; will forward"}}
		addr := startScriptedMany(t, s) // 127.0.0.1
		dns := &fakeDNS{mx: map[string][]*net.MX{"example.net": {{Host: "mx.example.net.", Pref: 10}}},
			hosts: map[string][]string{"mx.example.net": {"127.0.0.1"}}}
		d := newDeliverer(t, dns, config.Mailbox{}, mxConnector(portOf(addr)))
		m := message("fwd@example.net")
		m.Rcpts[0].Notify = queue.NotifySuccess
		res := d.Deliver(context.Background(), m, body, all(m))
		if len(res) != 1 || res[0].Outcome != queue.RelayedOK || res[0].DSNPassed {
			t.Fatalf("pipelining %v: %+v; want RelayedOK, DSN not passed", pipelining, res)
		}
		t.Logf("pipelining %v: reply %q", pipelining, res[0].Reply)
	}
}
