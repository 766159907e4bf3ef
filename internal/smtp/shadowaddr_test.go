package smtp

import (
	"strings"
	"testing"

	"umbra/internal/routing"
)

// SR-1, SR-14 (shadow26 item 1 and its sibling): a server account (hub2)
// whose addresses the topology lists (127.0.0.4) logging in from another
// address (a copy of hub2 started with its configuration) is not taken
// as hub2: its XSHADOW is refused 550 5.7.1 naming the address, and the
// umbra headers of what it sends are removed, as from any client that
// is no transport server. From its own address both are as before.
func TestServerAccountFromAnotherAddress(t *testing.T) {
	topo, err := routing.NewTopology(routing.TopologyInput{Sites: []routing.Site{{Name: "s1"}},
		Servers: []routing.Server{{Name: "hub2", Role: routing.RoleHub, Site: "s1", Address: "127.0.0.4:25"}}})
	if err != nil {
		t.Fatal(err)
	}
	id := "0123456789abcdef0123456789abcdef"
	for _, c := range []struct {
		from     string
		xshadow  string
		wantOrg  string
		refusals int
	}{
		{"127.0.0.4", "250", id, 0},
		{"127.0.0.99", "550 5.7.1 Server id hub2 does not match the connection's address: 127.0.0.99", "", 1},
	} {
		t.Run(c.from, func(t *testing.T) {
			q := &fakeQueue{}
			s := startShadowServer(t, q, &fakeShadow{}, true, transportConnector(t, ""))
			s.SetServers(topo)
			d := dial(t, s, c.from)
			d.expect("220")
			d.cmd("EHLO c", "250")
			d.cmd(authHub2, "235")
			if got := d.cmd("XSHADOW hub2", c.xshadow); c.refusals > 0 && !strings.Contains(got, "is not one of hub2's addresses in the topology") {
				t.Errorf("XSHADOW hub2 from %s: %q does not say why", c.from, got)
			}
			d = dial(t, s, c.from)
			d.expect("220")
			d.cmd("EHLO c", "250")
			d.cmd(authHub2, "235")
			d.cmd("MAIL FROM:<a@example.org>", "250")
			d.cmd("RCPT TO:<b@example.test>", "250")
			d.cmd("DATA", "354")
			d.send("X-Umbra-Org-Id: " + id + "\r\nSubject: hi\r\n\r\nhi\r\n.\r\n")
			d.expect("250")
			if q.count() != 1 {
				t.Fatalf("%d messages queued", q.count())
			}
			if q.msgs[0].OrgID != c.wantOrg {
				t.Errorf("from %s: org id %q, want %q", c.from, q.msgs[0].OrgID, c.wantOrg)
			}
		})
	}
}
