package smtp

import (
	"fmt"
	"testing"

	"umbra/internal/routing"
)

// SMTP-8, SR-1: a session that was a transport server
// only by its connector's externally_secured, which a reload took away,
// opens no shadow session afterwards: a new connection like it is
// refused, and so must the old one be (serverNow applies at XSHADOW too,
// not only at MAIL and RCPT).
func TestSMTP8TrustRemovedOpensNoShadowSession(t *testing.T) {
	addr := freeAddr(t)
	creds := credsFile(t)
	conf := func(trusted bool) string {
		return fmt.Sprintf(`
  - name: transport
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    externally_secured: %v
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit], servers: [submit, relay, accept-xshadow]}
`, addr, trusted, creds)
	}
	tp, err := routing.NewTopology(routing.TopologyInput{Sites: []routing.Site{{Name: "s1"}},
		Servers: []routing.Server{{Name: "edge7", Role: routing.RoleEdge, Site: "s1", Address: "127.0.0.212:25"}}})
	if err != nil {
		t.Fatal(err)
	}
	s := startShadowServer(t, &fakeQueue{}, &fakeShadow{notes: map[string][]string{}}, true, connectors(t, conf(true)))
	s.SetServers(tp)
	d := dial(t, s, "127.0.0.212")
	d.expect("220")
	d.cmd("EHLO c", "250")
	if err := s.Reload(connectors(t, conf(false)), testTable()); err != nil {
		t.Fatal(err)
	}
	n := dial(t, s, "127.0.0.212")
	n.expect("220")
	n.cmd("EHLO c", "250")
	n.cmd("XSHADOW edge7", "550 5.7.1") // a new connection like it
	d.cmd("XSHADOW edge7", "550 5.7.1")
}
