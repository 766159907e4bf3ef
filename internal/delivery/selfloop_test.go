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
		"fine.example":   {{Host: "mx.fine.example.", Pref: 10}},
		"backup.example": {{Host: "mx.down.example.", Pref: 10}, {Host: "mx.loop.example.", Pref: 20}},
		"sfb.example":    {{Host: "mx.sf.example.", Pref: 10}, {Host: "mx.loop.example.", Pref: 20}},
		"nxb.example":    {{Host: "mx.nx.example.", Pref: 10}, {Host: "mx.loop.example.", Pref: 20}}},
		fail:  map[string]error{"mx.sf.example": &net.DNSError{Err: "server misbehaving", Name: "mx.sf.example", IsTemporary: true}},
		hosts: map[string][]string{"mx.loop.example": {"127.0.0.2"}, "mx.fine.example": {"127.0.0.3"}, "mx.down.example": {"127.0.0.4"}}}
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

	// This server is a backup MX (20) of a primary (10) that is down:
	// the primary is tried, and its failure defers; no bounce, no loop.
	mb := message("u@backup.example")
	res = d.Deliver(context.Background(), mb, body, all(mb))
	if len(res) != 1 || res[0].Outcome != queue.Deferred || strings.Contains(res[0].Reply, "loops back") {
		t.Fatalf("backup MX below a primary that is down: %+v", res)
	}

	// rt20 N5: the primary's address lookup fails for now: deferred as
	// it would be without this server among the hosts; a primary with no
	// address bounces naming it, not as a loop.
	ms := message("u@sfb.example")
	res = d.Deliver(context.Background(), ms, body, all(ms))
	if len(res) != 1 || res[0].Outcome != queue.Deferred || strings.Contains(res[0].Reply, "loops back") {
		t.Fatalf("backup MX, the primary's lookup failing: %+v", res)
	}
	mn := message("u@nxb.example")
	res = d.Deliver(context.Background(), mn, body, all(mn))
	if len(res) != 1 || res[0].Outcome != queue.FailedPerm || strings.Contains(res[0].Reply, "loops back") || !strings.Contains(res[0].Reply, "mx.nx.example") {
		t.Fatalf("backup MX, the primary without an address: %+v", res)
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
		// rt19 F1: a wildcard listener takes every loopback address (lo
		// is 127.0.0.0/8), and a connection to the unspecified address
		// reaches this machine's loopback.
		{[]string{"0.0.0.0:2525"}, "127.0.0.2:2525", true},
		{[]string{"0.0.0.0:2525"}, "127.0.0.88:2525", true},
		{[]string{"0.0.0.0:2525"}, "0.0.0.0:2525", true},
		{[]string{"[::]:2525"}, "[::]:2525", true},
		{[]string{"[::]:2525"}, "[::ffff:127.0.0.5]:2525", true},
		{[]string{"127.0.0.1:2525"}, "0.0.0.0:2525", true},
		// rt27c F2: the unspecified address reaches this machine itself
		// (its bound source address), whatever the bindings: a loop.
		{[]string{"127.0.0.19:2525"}, "0.0.0.0:2525", true},
		{[]string{"127.0.0.19:2525"}, "0.0.0.0:2600", true},
		{[]string{"127.0.0.19:2525"}, "[::ffff:0.0.0.0]:2525", true},
		{[]string{"127.0.0.19:2525"}, "127.0.0.20:2525", false},
		{[]string{"0.0.0.0:2525"}, "192.0.2.1:2525", false},
		{[]string{"0.0.0.0:25"}, "127.0.0.2:2525", false},
		{[]string{"[::1]:2525"}, "[::1]:2525", true},
		{[]string{"mx.example:2525"}, "127.0.0.1:2525", false},
		// rt35 F5: the dialer reads a port with leading zeros, a sign or
		// a service name as its number: so must the comparison.
		{[]string{"127.0.0.1:2525"}, "127.0.0.1:02525", true},
		{[]string{"127.0.0.1:2525"}, "127.0.0.1:+2525", true},
		{[]string{"127.0.0.1:25"}, "127.0.0.1:smtp", true},
		{[]string{"127.0.0.1:025"}, "127.0.0.1:25", true},
		{[]string{"127.0.0.1:2525"}, "127.0.0.1:02526", false},
	} {
		if got := ownBinding(c.bindings, c.addr); got != c.want {
			t.Errorf("ownBinding(%q, %q) = %v", c.bindings, c.addr, got)
		}
	}
}

// rt19 F2: a self address among the next hops decided the whole group.
// A backup MX below a primary that is down bounced, and a smart host
// list with this server first never tried the others. Now smart hosts
// that are this server are skipped; among MX hosts, those no better
// than the best one at which this server appears are dropped (an MX host
// is this server when any of its addresses is), and what is left is
// tried, a failure deferring; only nothing left is a loop.
func TestDropSelf(t *testing.T) {
	own := []string{"127.0.0.19:25"}
	h := func(name, ip string, pref int) host { return host{name: name, addr: ip + ":25", pref: pref} }
	names := func(hs []host) string {
		var out []string
		for _, x := range hs {
			out = append(out, x.addr)
		}
		return strings.Join(out, " ")
	}
	for _, c := range []struct {
		what  string
		smart bool
		hosts []host
		rest  string
		self  bool
	}{
		{"no self", false, []host{h("a", "127.0.0.20", 10)}, "127.0.0.20:25", false},
		{"backup MX below a primary", false, []host{h("p", "127.0.0.21", 10), h("me", "127.0.0.19", 20)}, "127.0.0.21:25", true},
		{"best MX is this server", false, []host{h("me", "127.0.0.19", 10), h("b", "127.0.0.20", 20)}, "", true},
		{"MX host with this server's address among others", false, []host{h("m", "127.0.0.19", 10), h("m", "127.0.0.20", 10)}, "", true},
		{"an equal MX of another name", false, []host{h("me", "127.0.0.19", 10), h("peer", "127.0.0.20", 10)}, "", true},
		{"better MX with two addresses", false, []host{h("p", "127.0.0.21", 5), h("p", "127.0.0.22", 5), h("me", "127.0.0.19", 10)}, "127.0.0.21:25 127.0.0.22:25", true},
		{"smart hosts, this server first", true, []host{h("s", "127.0.0.19", 0), h("t", "127.0.0.20", 0)}, "127.0.0.20:25", true},
		{"smart host, only this server", true, []host{h("s", "127.0.0.19", 0)}, "", true},
	} {
		rest, self := dropSelf(own, c.smart, c.hosts)
		if names(rest) != c.rest || (self != nil) != c.self {
			t.Errorf("%s: rest %q self %v, want %q %v", c.what, names(rest), self != nil, c.rest, c.self)
		}
	}
}

// route explain asks the daemon whether the next hops of a recipient's
// domain are this server, with the domain as the recipient wrote it: a
// U-label is looked up at its A-label, as delivery does (the plan keys
// domains by mailaddr.AddrKey), so the check names delivery's hosts.
func TestCheckSelfIDNDomain(t *testing.T) {
	dns := &fakeDNS{mx: map[string][]*net.MX{"xn--bcher-kva.example": {{Host: "mx.xn--bcher-kva.example.", Pref: 10}}},
		hosts: map[string][]string{"mx.xn--bcher-kva.example": {"127.0.0.2"}}}
	own := []string{"127.0.0.2:2525"}
	for _, dom := range []string{"xn--bcher-kva.example", "Bücher.example", "BÜCHER.example."} {
		out := CheckSelf(context.Background(), dns, "", own, "internet", nil, 2525, 0, dom)
		if out.Error != "" || !strings.Contains(out.Reply, "loops back to myself") {
			t.Errorf("CheckSelf(%q) = %+v", dom, out)
		}
	}
}
