package delivery

import (
	"context"
	"net"
	"strings"
	"testing"

	"umbra/internal/config"
	"umbra/internal/queue"
)

// A next hop that greets with this server's own name is this server:
// relaying to it would only send the message round until the hop limit
// (max_hop_count copies). An MX that leads back here fails the
// recipients at once with 5.4.6 naming the loop (the destination's DNS
// points at a server not configured to take its mail; waiting fixes
// nothing); a smart host that does is the operator's configuration
// mistake, deferred with 4.4.6 so the mail waits while it is fixed.
// A next hop with another name (another transport server of the
// organisation) is not affected.
func TestNextHopThatIsThisServer(t *testing.T) {
	// this server's own name, in another case, with the final dot
	self := startSinkNamed(t, "127.0.0.2:0", false, nil, "UMBRA.test.")

	dns := &fakeDNS{mx: map[string][]*net.MX{"loop.example": {{Host: "mx.loop.example.", Pref: 10}},
		"fine.example": {{Host: "mx.fine.example.", Pref: 10}}},
		hosts: map[string][]string{"mx.loop.example": {"127.0.0.2"}, "mx.fine.example": {"127.0.0.3"}}}
	port := portOf(self.addr)
	d := newDeliverer(t, dns, config.Mailbox{}, mxConnector(port))
	m := message("u@loop.example")
	res := d.Deliver(context.Background(), m, body, all(m))
	if len(res) != 1 || res[0].Outcome != queue.FailedPerm || !strings.HasPrefix(res[0].Reply, "554 5.4.6") ||
		!strings.Contains(res[0].Reply, "loops back to myself") || !strings.Contains(res[0].Reply, "loop.example") {
		t.Fatalf("MX that is this server: %+v", res)
	}
	if n := len(self.received()); n != 0 {
		t.Fatalf("%d messages sent to this server itself", n)
	}

	sh := config.SendConnector{Name: "smart", AddressSpaces: []config.AddressSpace{{Domain: "*", Cost: 1}},
		SmartHosts: []string{self.addr}, TLS: config.TLSNone}
	d = newDeliverer(t, dns, config.Mailbox{}, sh)
	res = d.Deliver(context.Background(), m, body, all(m))
	if len(res) != 1 || res[0].Outcome != queue.Deferred || !strings.HasPrefix(res[0].Reply, "451 4.4.6") ||
		!strings.Contains(res[0].Reply, "loops back to myself") {
		t.Fatalf("smart host that is this server: %+v", res)
	}
	if n := len(self.received()); n != 0 {
		t.Fatalf("%d messages sent to this server itself", n)
	}

	// Another server of the organisation, on the same port: delivered.
	other := startSinkNamed(t, "127.0.0.3:"+port, false, nil, "hub2.umbra.test")
	d = newDeliverer(t, dns, config.Mailbox{}, mxConnector(port))
	m = message("u@fine.example")
	res = d.Deliver(context.Background(), m, body, all(m))
	if len(res) != 1 || res[0].Outcome != queue.RelayedOK {
		t.Fatalf("another server: %+v", res)
	}
	if n := len(other.received()); n != 1 {
		t.Fatalf("the other server got %d messages", n)
	}
}

// A next hop at an address this server listens on is this server,
// whatever name it greets with: it is not even connected to. Other
// addresses on the same port (another server on a loopback alias) are
// not.
func TestNextHopAtOwnBinding(t *testing.T) {
	peer := startSinkNamed(t, "127.0.0.2:0", false, nil, "renamed.example")
	dns := &fakeDNS{mx: map[string][]*net.MX{"loop.example": {{Host: "mx.loop.example.", Pref: 10}}},
		hosts: map[string][]string{"mx.loop.example": {"127.0.0.2"}}}
	port := portOf(peer.addr)
	d := newDeliverer(t, dns, config.Mailbox{}, mxConnector(port))
	d.st.Load().cfg.OwnBindings = []string{"127.0.0.5:" + port, peer.addr} // before any delivery
	m := message("u@loop.example")
	res := d.Deliver(context.Background(), m, body, all(m))
	if len(res) != 1 || res[0].Outcome != queue.FailedPerm || !strings.HasPrefix(res[0].Reply, "554 5.4.6") ||
		!strings.Contains(res[0].Reply, "loops back to myself") || !strings.Contains(res[0].Reply, "listens on") {
		t.Fatalf("MX at an own binding: %+v", res)
	}
	peer.mu.Lock()
	n := peer.conns
	peer.mu.Unlock()
	if n != 0 {
		t.Fatalf("connected %d times to this server's own address", n)
	}

	for _, c := range []struct {
		bindings []string
		addr     string
		want     bool
	}{
		{[]string{"127.0.0.1:2525"}, "127.0.0.1:2525", true},
		{[]string{"127.0.0.1:2525"}, "127.0.0.2:2525", false},
		{[]string{"127.0.0.1:2525"}, "127.0.0.1:25", false},
		{[]string{"0.0.0.0:2525"}, "127.0.0.1:2525", true},
		{[]string{":2525"}, "127.0.0.1:2525", true},
		{[]string{"0.0.0.0:2525"}, "127.0.0.2:2525", false}, // a loopback alias is not an interface address
		{[]string{"0.0.0.0:2525"}, "192.0.2.1:2525", false},
		{[]string{"[::1]:2525"}, "[::1]:2525", true},
		{[]string{"mx.example:2525"}, "127.0.0.1:2525", false},
	} {
		if got := ownBinding(c.bindings, c.addr); got != c.want {
			t.Errorf("ownBinding(%q, %q) = %v", c.bindings, c.addr, got)
		}
	}
}
