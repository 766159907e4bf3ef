package smtp

import (
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"umbra/internal/routing"
)

// countingDirectory is a ServerDirectory that counts the questions whether
// an address is a transport server's.
type countingDirectory struct {
	ServerDirectory
	asked atomic.Int64
}

func (c *countingDirectory) IsTransportAddress(ip netip.Addr) bool {
	c.asked.Add(1)
	return c.ServerDirectory.IsTransportAddress(ip)
}

// SPEC SR-14: whether an externally secured connector's client is a
// transport server of the topology (its umbra headers kept, its commands
// exempt from the client limits) is asked by every command line, the
// body's deadline and several checks of the message — a walk over every
// server of the topology each time, a dozen walks a message. The client's
// address does not change within a session, and the topology only by a
// reload: the answer is taken once per session and topology, and a
// reload that takes the address from the topology is followed at once.
func TestTransportAddressAskedOncePerTopology(t *testing.T) {
	server := func(addr string) *routing.Topology {
		topo, err := routing.NewTopology(routing.TopologyInput{Sites: []routing.Site{{Name: "s1"}},
			Servers: []routing.Server{{Name: "edge7", Role: routing.RoleEdge, Site: "s1", Address: addr}}})
		if err != nil {
			t.Fatal(err)
		}
		return topo
	}
	q := &fakeQueue{}
	s := startShadowServer(t, q, &fakeShadow{}, true, connectors(t, `
  - name: org
    bindings: ["127.0.0.1:0"]
    remote_ranges: ["127.0.0.0/8"]
    externally_secured: true
    permissions: {anonymous: [submit], servers: [submit, relay, accept-xshadow]}
`))
	first := &countingDirectory{ServerDirectory: server("127.0.0.150:25")}
	s.SetServers(first)
	id := "0123456789abcdef0123456789abcdef"
	d := dial(t, s, "127.0.0.150")
	d.expect("220")
	d.cmd("EHLO c", "250")
	send := func() {
		d.cmd("MAIL FROM:<a@example.org>", "250")
		d.cmd("RCPT TO:<b@example.test>", "250")
		d.cmd("DATA", "354")
		d.send("X-Umbra-Org-Id: " + id + "\r\nSubject: hi\r\n\r\nhi\r\n.\r\n")
		d.expect("250")
	}
	send()
	send()
	if n := first.asked.Load(); n != 1 {
		t.Errorf("the topology was asked %d times whether the client is a transport server, in one session of two messages; want once", n)
	}
	if q.count() != 2 || q.msgs[0].OrgID != id || q.msgs[1].OrgID != id {
		t.Fatalf("a transport server's org ids not kept: %d messages", q.count())
	}
	// A reload that no longer gives the client's address a server.
	second := &countingDirectory{ServerDirectory: server("127.0.0.151:25")}
	s.SetServers(second)
	send()
	if q.count() != 3 || q.msgs[2].OrgID != "" {
		t.Errorf("after a reload that took the address from the topology, the org id was kept (%d messages)", q.count())
	}
	if strings.Contains(strings.ToLower(string(q.bodies[2])), "x-umbra-") {
		t.Errorf("umbra header stored after the reload:\n%s", q.bodies[2])
	}
	if n := second.asked.Load(); n != 1 {
		t.Errorf("the reloaded topology was asked %d times; want once", n)
	}
}
