package delivery

import (
	"context"
	"net"
	"strings"
	"testing"

	"umbra/internal/config"
	"umbra/internal/queue"
)

// SPEC Q-3, SMTP-1: in a lock-step transaction (no PIPELINING), a RCPT
// that finds the connection lost defers every recipient of the
// transaction with the connection's reply — those the next hop accepted
// before it too (they had no message yet) — never leaving one without a
// result ("no result from delivery" in the queue, which says nothing of
// the next hop).
func TestLockstepRcptConnectionLostDefersTheAccepted(t *testing.T) {
	h := &replyHop{dropAtRcpt: 2}
	addr := h.start(t, "127.0.0.131:0")
	dns := &fakeDNS{mx: map[string][]*net.MX{"example.net": {{Host: "mx.example.net.", Pref: 10}}},
		hosts: map[string][]string{"mx.example.net": {"127.0.0.131"}}}
	d := newDeliverer(t, dns, config.Mailbox{}, mxConnector(portOf(addr)))
	m := message("a@example.net", "b@example.net", "c@example.net")
	res := d.Deliver(context.Background(), m, body, all(m))
	if len(res) != 3 {
		t.Fatalf("%d results for 3 recipients: %+v", len(res), res)
	}
	seen := map[int]bool{}
	for _, r := range res {
		seen[r.Rcpt] = true
		if r.Outcome != queue.Deferred || !strings.HasPrefix(r.Reply, "451 4.4.2") {
			t.Errorf("recipient %d: outcome %v reply %q, want the lost connection's deferral", r.Rcpt, r.Outcome, r.Reply)
		}
	}
	if len(seen) != 3 {
		t.Errorf("results %+v: want one for each recipient", res)
	}
}
