package delivery

import (
	"context"
	"net"
	"strings"
	"testing"

	"umbra/internal/config"
	"umbra/internal/queue"
)

// A next hop at an address this server listens on is this server:
// relaying to it would only send the message round until the hop limit
// (max_hop_count copies). It is not even connected to. An MX that leads
// back here fails the recipients at once with 5.4.6 naming the loop (the
// destination's DNS points at a server not configured to take its mail;
// waiting fixes nothing); a smart host that does is the operator's
// configuration mistake, deferred with 4.4.6 so the mail waits while it
// is fixed. Another server is never taken for this one, not even one
// that greets with this server's own name.
func TestNextHopThatIsThisServer(t *testing.T) {
	self := startSinkNamed(t, "127.0.0.2:0", false, nil, "umbra.test")
	port := portOf(self.addr)
	// another server with the same name, on the same port
	twin := startSinkNamed(t, "127.0.0.3:"+port, false, nil, "umbra.test")
	dns := &fakeDNS{mx: map[string][]*net.MX{"loop.example": {{Host: "mx.loop.example.", Pref: 10}},
		"fine.example": {{Host: "mx.fine.example.", Pref: 10}}},
		hosts: map[string][]string{"mx.loop.example": {"127.0.0.2"}, "mx.fine.example": {"127.0.0.3"}}}
	own := []string{"127.0.0.5:" + port, self.addr}
	conns := func(s *sink) int {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.conns
	}

	d := newDeliverer(t, dns, config.Mailbox{}, mxConnector(port))
	d.st.Load().cfg.OwnBindings = own // before any delivery
	m := message("u@loop.example")
	res := d.Deliver(context.Background(), m, body, all(m))
	if len(res) != 1 || res[0].Outcome != queue.FailedPerm || !strings.HasPrefix(res[0].Reply, "554 5.4.6 mail for loop.example loops back to myself") ||
		!strings.Contains(res[0].Reply, "listens on") {
		t.Fatalf("MX that is this server: %+v", res)
	}

	sh := config.SendConnector{Name: "smart", AddressSpaces: []config.AddressSpace{{Domain: "*", Cost: 1}},
		SmartHosts: []string{self.addr}, TLS: config.TLSNone}
	d = newDeliverer(t, dns, config.Mailbox{}, sh)
	d.st.Load().cfg.OwnBindings = own
	res = d.Deliver(context.Background(), m, body, all(m))
	if len(res) != 1 || res[0].Outcome != queue.Deferred || !strings.HasPrefix(res[0].Reply, "451 4.4.6") ||
		!strings.Contains(res[0].Reply, "loops back to myself") || !strings.Contains(res[0].Reply, "send connector smart") {
		t.Fatalf("smart host that is this server: %+v", res)
	}
	if n := conns(self); n != 0 {
		t.Fatalf("connected %d times to this server's own address", n)
	}

	// The twin greets as umbra.test too, at an address this server does
	// not listen on: it is another server, and gets the message.
	d = newDeliverer(t, dns, config.Mailbox{}, mxConnector(port))
	d.st.Load().cfg.OwnBindings = own
	m = message("u@fine.example")
	res = d.Deliver(context.Background(), m, body, all(m))
	if len(res) != 1 || res[0].Outcome != queue.RelayedOK {
		t.Fatalf("another server with the same name: %+v", res)
	}
	if n := len(twin.received()); n != 1 {
		t.Fatalf("the other server got %d messages", n)
	}
}

func TestOwnBinding(t *testing.T) {
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
