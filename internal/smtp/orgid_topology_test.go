package smtp

import (
	"net/netip"
	"strings"
	"testing"

	"umbra/internal/routing"
)

// With a topology, an externally secured connector's client is a
// transport server whose umbra headers are kept only when its address is
// one the topology gives a server — the binding XSHADOW's server id
// already has. A client elsewhere in the connector's remote ranges keeps
// its relay rights but cannot name a message: its X-Umbra-Org-Id is
// removed (else it could replay a delivered message's id and have a
// legitimate message suppressed as a duplicate). A server account and
// the connector without a topology keep theirs. EHLO offers XSHADOW by
// the same rule.
func TestHeaderFirewallExternallySecuredBoundToTopology(t *testing.T) {
	servers := []routing.Server{
		{Name: "edge7", Role: routing.RoleEdge, Site: "s1", Address: "127.0.0.2:25"},
		{Name: "hub9", Role: routing.RoleHub, Site: "s1", Address: "hub9.example.test:25",
			Sources: []netip.Prefix{netip.MustParsePrefix("127.0.0.3/32")}},
	}
	// Without hub2: its server account names no server of the topology.
	topoNoHub2, err := routing.NewTopology(routing.TopologyInput{Sites: []routing.Site{{Name: "s1"}}, Servers: servers})
	if err != nil {
		t.Fatal(err)
	}
	topo, err := routing.NewTopology(routing.TopologyInput{Sites: []routing.Site{{Name: "s1"}},
		Servers: append(servers, routing.Server{Name: "hub2", Role: routing.RoleHub, Site: "s1", Address: "hub2.example.test:25"})})
	if err != nil {
		t.Fatal(err)
	}
	id := "0123456789abcdef0123456789abcdef"
	cases := []struct {
		name, from, auth string
		topology         bool
		wantOrg          string
		wantXShadow      bool
	}{
		{"server address", "127.0.0.2", "", true, id, true},
		{"listed source address", "127.0.0.3", "", true, id, true},
		{"not a server's address", "127.0.0.99", "", true, "", false},
		// With AUTH and a server account on the connector, EHLO before
		// AUTH offers XSHADOW by the SASL rule (a server may log in).
		{"server account from anywhere", "127.0.0.99", authHub2, true, id, true},
		// rt11 F8: a server account whose name is no transport server of
		// the topology (a stale line) is an authenticated user only.
		{"server account in no topology", "127.0.0.99", authHub2, true, "", true},
		{"user account, not a server", "127.0.0.99", authAlice, true, "", true},
		{"no topology: the connector's trust", "127.0.0.99", "", false, id, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := &fakeQueue{}
			conns := connectors(t, `
  - name: org
    bindings: ["127.0.0.1:0"]
    remote_ranges: ["127.0.0.0/8", "::1/128"] # relay only from loopback (SMTP-3)
    externally_secured: true
    permissions: {anonymous: [submit], servers: [submit, relay, accept-xshadow]}
`)
			if c.auth != "" {
				conns = transportConnector(t, "    externally_secured: true\n")
			}
			s := startShadowServer(t, q, &fakeShadow{}, true, conns)
			if c.topology && c.name == "server account in no topology" {
				s.SetServers(topoNoHub2)
			} else if c.topology {
				s.SetServers(topo)
			}
			d := dial(t, s, c.from)
			d.expect("220")
			ehlo := d.cmd("EHLO c", "250")
			if got := offersKeyword(ehlo, "XSHADOW"); got != c.wantXShadow {
				t.Errorf("EHLO offers XSHADOW: %v, want %v\n%s", got, c.wantXShadow, ehlo)
			}
			if c.auth != "" {
				d.cmd(c.auth, "235")
			}
			d.cmd("MAIL FROM:<a@example.org>", "250")
			d.cmd("RCPT TO:<b@example.test>", "250")
			d.cmd("DATA", "354")
			d.send("X-Umbra-Org-Id: " + id + "\r\nSubject: hi\r\n\r\nhi\r\n.\r\n")
			d.expect("250")
			if q.count() != 1 {
				t.Fatalf("%d messages queued", q.count())
			}
			if q.msgs[0].OrgID != c.wantOrg {
				t.Errorf("org id %q, want %q", q.msgs[0].OrgID, c.wantOrg)
			}
			if strings.Contains(strings.ToLower(string(q.bodies[0])), "x-umbra-") {
				t.Errorf("umbra header stored:\n%s", q.bodies[0])
			}
		})
	}
}
