package smtp

import (
	"testing"

	"umbra/internal/routing"
)

// F9: only transport servers — role hub or edge in the topology — may
// open a shadow session. A mailbox server (Dovecot: not an umbra) or a
// legacy server is a server of the organisation, but it neither keeps
// shadow copies nor may collect another server's discard notifications,
// and the umbra headers of mail it submits are not a transport server's
// word: on an externally secured connector from its address XSHADOW is
// refused and not offered, and its X-Umbra-Org-Id is removed; a server
// account named as such a server is refused too.
func TestShadowSessionOnlyForTransportServers(t *testing.T) {
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites: []routing.Site{{Name: "s1"}},
		Servers: []routing.Server{
			{Name: "edge7", Role: routing.RoleEdge, Site: "s1", Address: "127.0.0.2:25"},
			{Name: "hub1", Role: routing.RoleHub, Site: "s1", Address: "127.0.0.8:25"},
			{Name: "mbx", Role: routing.RoleMailbox, Site: "s1", Address: "127.0.0.5:24"},
			{Name: "hub2", Role: routing.RoleMailbox, Site: "s1", Address: "127.0.0.7:24"},
			{Name: "old", Role: routing.RoleLegacy, RoutingGroup: "rg1", Address: "127.0.0.6:25"},
		},
		Databases:    []routing.Database{{Name: "DB1", Server: "mbx"}},
		RGConnectors: []routing.RoutingGroupConnector{{Name: "rgc", Groups: [2]string{routing.ModernGroup, "rg1"}, SourceServers: []string{"hub1"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	sh := &fakeShadow{notes: map[string][]string{"edge7": {"n1"}, "mbx": {"n2"}, "old": {"n3"}, "hub2": {"n4"}}}
	q := &fakeQueue{}
	s := startShadowServer(t, q, sh, true, transportConnector(t, "    externally_secured: true\n"))
	s.SetServers(topo)
	cases := []struct{ from, id, want string }{
		{"127.0.0.2", "edge7", "250 db-"},   // an edge server: a transport server
		{"127.0.0.5", "mbx", "550 5.7.1"},   // a mailbox server at its address
		{"127.0.0.6", "old", "550 5.7.1"},   // a legacy server at its address
		{"127.0.0.5", "edge7", "550 5.7.1"}, // and never for another server
	}
	for _, c := range cases {
		d := dial(t, s, c.from)
		d.expect("220")
		d.cmd("EHLO c", "250")
		d.cmd("XSHADOW "+c.id, c.want)
		if c.want == "550 5.7.1" {
			d.cmd("XQUERYDISCARD 10", "503 5.5.1")
		}
		d.cmd("QUIT", "221")
	}
	// A server account whose name the topology gives a mailbox server.
	d := dial(t, s, "127.0.0.4")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2", "550 5.7.1")
	d.cmd("XQUERYDISCARD 10", "503 5.5.1")
	// Its mail is relayed (the account's rights), its umbra headers
	// are not kept.
	id := "0123456789abcdef0123456789abcdef"
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	d.cmd("DATA", "354")
	d.send("X-Umbra-Org-Id: " + id + "\r\nSubject: hi\r\n\r\nhi\r\n.\r\n")
	d.expect("250")
	if q.count() != 1 || q.msgs[0].OrgID == id {
		t.Errorf("a mailbox server's account kept its X-Umbra-Org-Id (%d messages)", q.count())
	}
	d.cmd("QUIT", "221")

	// Without SASL on the connector (so no server may log in), EHLO from
	// the mailbox server's address does not offer XSHADOW; its mail is
	// relayed as the connector allows, but its umbra headers are not
	// kept.
	q = &fakeQueue{}
	s = startShadowServer(t, q, sh, true, connectors(t, `
  - name: org
    bindings: ["127.0.0.1:0"]
    remote_ranges: ["127.0.0.0/8", "::1/128"] # relay only from loopback (SMTP-3)
    externally_secured: true
    permissions: {anonymous: [submit], servers: [submit, relay, accept-xshadow]}
`))
	s.SetServers(topo)
	d = dial(t, s, "127.0.0.5")
	d.expect("220")
	if ehlo := d.cmd("EHLO c", "250"); offersKeyword(ehlo, "XSHADOW") {
		t.Errorf("EHLO from a mailbox server offers XSHADOW:\n%s", ehlo)
	}
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	d.cmd("DATA", "354")
	d.send("X-Umbra-Org-Id: " + id + "\r\nSubject: hi\r\n\r\nhi\r\n.\r\n")
	d.expect("250")
	if q.count() != 1 {
		t.Fatalf("%d messages queued", q.count())
	}
	if q.msgs[0].OrgID == id {
		t.Errorf("a mailbox server's X-Umbra-Org-Id was kept")
	}
}
