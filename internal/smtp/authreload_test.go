package smtp

import (
	"fmt"
	"net"
	"testing"
)

// SR-1, OPS-1 (rt28b F1, sibling): a shadow session a transport server
// opened by its connector's trust alone (externally_secured, no
// credential) ends at its next shadow verb once a reload takes that
// trust away (421 4.7.0, the connection closed): it keeps no shadow
// verbs the configuration in force would not give a new connection.
func TestSR1TrustTakenAwayEndsShadowSession(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	conf := func(trusted bool) string {
		return fmt.Sprintf(`
  - name: transport
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    externally_secured: %v
    permissions: {anonymous: [submit], servers: [submit, relay, accept-xshadow]}
`, addr, trusted)
	}
	sh := &fakeShadow{notes: map[string][]string{}}
	s := startShadowServer(t, &fakeQueue{}, sh, true, connectors(t, conf(true)))
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO hub2.test", "250")
	d.cmd("XSHADOW hub2", "250")
	d.cmd("XQUERYDISCARD 10", "250")
	if err := s.Reload(connectors(t, conf(false)), testTable()); err != nil {
		t.Fatal(err)
	}
	d.cmd("XQUERYDISCARD 10", "421 4.7.0")
}
