package delivery

import (
	"context"
	"net"
	"strings"
	"testing"

	"umbra/internal/config"
	"umbra/internal/queue"
)

// A next hop that answers RCPT with a 3xx (a reply only DATA or AUTH
// may get) is out of step: every recipient of the transaction is
// deferred with umbra's 451 4.4.2 naming the reply, never with the 3xx
// itself as the reason mail waits — lock-step and pipelined alike.
func TestStrayIntermediateReplyDefers(t *testing.T) {
	for _, pipelining := range []bool{false, true} {
		name := "lock-step"
		if pipelining {
			name = "pipelined"
		}
		t.Run(name, func(t *testing.T) {
			s := &scripted{pipelining: pipelining, refuse: map[string]string{"odd@example.net": "354 go ahead"}}
			addr := s.start(t)
			dns := &fakeDNS{mx: map[string][]*net.MX{"example.net": {{Host: "mx.example.net.", Pref: 10}}},
				hosts: map[string][]string{"mx.example.net": {"127.0.0.3"}}}
			d := newDeliverer(t, dns, config.Mailbox{}, mxConnector(portOf(addr)))
			m := message("odd@example.net", "b@example.net")
			for _, r := range d.Deliver(context.Background(), m, body, all(m)) {
				if r.Outcome != queue.Deferred || !strings.HasPrefix(r.Reply, "451 4.4.2 ") || !strings.Contains(r.Reply, "unexpected reply") {
					t.Errorf("%s: %v %q, want a deferral 451 4.4.2 naming an unexpected reply", m.Rcpts[r.Rcpt].Addr, r.Outcome, r.Reply)
				}
			}
		})
	}
}
