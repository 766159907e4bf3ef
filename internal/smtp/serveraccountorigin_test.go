package smtp

import (
	"testing"

	"umbra/internal/routing"
)

// SR-14 (shadow26 review F1): a server account (hub2) whose addresses the
// topology lists, logging in from another address, is no trusted
// transport server (shadow26 item 6) — but it is no user's submission
// either. Mail it relays that did not originate inside (no
// X-Umbra-Origin: internal: internet mail hub2 received and forwards)
// must not be marked Internal (DKIM-signed by the organisation when it
// leaves): from its own address it is not.
func TestServerAccountFromAnotherAddressNotInternal(t *testing.T) {
	topo, err := routing.NewTopology(routing.TopologyInput{Sites: []routing.Site{{Name: "s1"}},
		Servers: []routing.Server{{Name: "hub2", Role: routing.RoleHub, Site: "s1", Address: "127.0.0.190:25"}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, from := range []string{"127.0.0.190", "127.0.0.191"} {
		t.Run(from, func(t *testing.T) {
			q := &fakeQueue{}
			s := startShadowServer(t, q, &fakeShadow{}, true, transportConnector(t, ""))
			s.SetServers(topo)
			d := dial(t, s, from)
			d.expect("220")
			d.cmd("EHLO c", "250")
			d.cmd(authHub2, "235")
			d.cmd("MAIL FROM:<spammer@outside.example>", "250")
			d.cmd("RCPT TO:<b@example.test>", "250")
			d.cmd("DATA", "354")
			d.send("From: spammer@outside.example\r\nSubject: hi\r\n\r\nhi\r\n.\r\n")
			d.expect("250")
			if q.count() != 1 {
				t.Fatalf("%d messages queued", q.count())
			}
			if q.msgs[0].Internal {
				t.Errorf("from %s: internet mail relayed by server account hub2 marked Internal (the organisation DKIM-signs it when it leaves)", from)
			}
		})
	}
}
