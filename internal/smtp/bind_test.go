package smtp

import (
	"net/netip"
	"testing"

	"umbra/internal/routing"
)

// Issue 19 defect 10: on an externally secured connector every peer is a
// transport server, so the server id of XSHADOW was anyone's word, and a
// peer could drain another server's discard notifications. With a
// topology, the id must be a server of it and the connection must come
// from that server's address (or a source address the topology lists).
func TestShadowServerIDBoundToTopology(t *testing.T) {
	servers := []routing.Server{
		{Name: "edge7", Role: routing.RoleEdge, Site: "s1", Address: "127.0.0.2:25"},
		{Name: "hub9", Role: routing.RoleHub, Site: "s1", Address: "hub9.example.test:25",
			Sources: []netip.Prefix{netip.MustParsePrefix("127.0.0.3/32")}},
	}
	topoNoHub2, err := routing.NewTopology(routing.TopologyInput{Sites: []routing.Site{{Name: "s1"}}, Servers: servers})
	if err != nil {
		t.Fatal(err)
	}
	topo, err := routing.NewTopology(routing.TopologyInput{Sites: []routing.Site{{Name: "s1"}},
		Servers: append(servers, routing.Server{Name: "hub2", Role: routing.RoleHub, Site: "s1", Address: "hub2.example.test:25"})})
	if err != nil {
		t.Fatal(err)
	}
	sh := &fakeShadow{notes: map[string][]string{"edge7": {"n1"}, "hub9": {"n2"}}}
	s := startShadowServer(t, &fakeQueue{}, sh, true, transportConnector(t, "    externally_secured: true\n"))
	s.SetServers(topo)
	cases := []struct{ from, id, want string }{
		{"127.0.0.2", "edge7", "250 db-"},    // its address in the topology
		{"127.0.0.3", "hub9", "250 db-"},     // a listed source address
		{"127.0.0.3", "edge7", "550 5.7.1"},  // another server's id
		{"127.0.0.2", "hub9", "550 5.7.1"},   // a host name is never taken on trust
		{"127.0.0.4", "nobody", "550 5.7.1"}, // not a server of the organisation
		{"127.0.0.4", "edge7", "550 5.7.1"},
	}
	for _, c := range cases {
		d := dial(t, s, c.from)
		d.expect("220")
		d.cmd("EHLO c", "250")
		d.cmd("XSHADOW "+c.id, c.want)
		if c.want == "550 5.7.1" {
			// Refused: no shadow session, so no discard query either.
			d.cmd("XQUERYDISCARD 10", "503 5.5.1")
		}
		d.cmd("QUIT", "221")
	}
	// A session authenticated with a server account is bound by its
	// account name, from any address.
	d := dial(t, s, "127.0.0.4")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2", "250 db-")
	// rt11 F8: an account whose name is no server of the topology (a
	// stale line) opens no shadow session, from any address.
	s.SetServers(topoNoHub2)
	d = dial(t, s, "127.0.0.4")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2", "550 5.7.1")
	// Without a topology there is nothing to bind to: the connector's
	// trust decides, as before.
	s.SetServers(nil)
	d = dial(t, s, "127.0.0.4")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("XSHADOW anyone", "250 db-")
}
