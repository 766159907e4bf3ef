package topology

import (
	"net/netip"
	"testing"

	"umbra/internal/config"
)

// SR-1: "::ffff:10.0.0.0/104" loads as a source address (the width rule
// counts it as 10.0.0.0/8) and is matched as that IPv4 prefix, as the
// connecting address is unmapped: a connection from 10.0.0.0/8 — in
// either spelling — is the server's, as with the single-address
// spelling "::ffff:10.1.0.5".
func TestSR1MappedSourcePrefixMatches(t *testing.T) {
	topo := "sites: [{name: a}]\nservers:\n  - {name: hub1, role: hub, site: a, address: \"192.0.2.1:25\", source_addresses: [\"::ffff:10.0.0.0/104\", \"::ffff:10.1.0.5\"]}\n"
	ct, err := config.ParseTopology([]byte(topo), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rt, err := Build(ct)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"10.1.0.5", "::ffff:10.1.0.5", "10.2.3.4", "::ffff:10.2.3.4"} {
		if _, ok := rt.ServerAt("hub1", netip.MustParseAddr(a)); !ok {
			t.Errorf("a connection from %s is not hub1's, though its source_addresses has ::ffff:10.0.0.0/104 (loaded, counted as 10.0.0.0/8)", a)
		}
	}
}
