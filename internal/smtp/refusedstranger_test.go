package smtp

import (
	"fmt"
	"net/netip"
	"testing"

	"umbra/internal/routing"
)

// SR-17 (reread of the stored refusals): on an externally secured connector
// a session stating a name that is no server of the organisation is
// refused (550) — and noted as that "server's" sessions refused. With
// the refusal kept in the transport database (refusedhere, one commit
// per new name, no session of such a name ever let in to end it), each
// name a client there states becomes a record forever: a refusal should
// be noted only for a server the topology knows.
func TestSR17RefusalOfUnknownNameNotNoted(t *testing.T) {
	topo, err := routing.NewTopology(routing.TopologyInput{Sites: []routing.Site{{Name: "s1"}},
		Servers: []routing.Server{{Name: "hub9", Role: routing.RoleHub, Site: "s1", Address: "hub9.example.test:25",
			Sources: []netip.Prefix{netip.MustParsePrefix("127.0.0.3/32")}}}})
	if err != nil {
		t.Fatal(err)
	}
	s := startShadowServer(t, &fakeQueue{}, &fakeShadow{notes: map[string][]string{}}, true, transportConnector(t, "    externally_secured: true\n"))
	s.SetServers(topo)
	r := &notingReceipt{}
	s.SetReceiptShadow(r)
	for i := range 5 {
		d := dial(t, s, "127.0.0.4")
		d.expect("220")
		d.cmd("EHLO c", "250")
		d.cmd(fmt.Sprintf("XSHADOW nobody-%d.example", i), "550 5.7.1")
		d.cmd("QUIT", "221")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.refused) != 0 {
		t.Fatalf("names of no server of the organisation noted refused: %q (each one a refusedhere record never ended)", r.refused)
	}
}
