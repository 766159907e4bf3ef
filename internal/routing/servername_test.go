package routing

import (
	"net/netip"
	"testing"
)

// A server's name is a host name (rt51 F9): another spelling of it
// (letter case, a final dot), from a peer or an operator, is the same
// server.
func TestServerFoundInAnotherSpelling(t *testing.T) {
	topo, err := NewTopology(TopologyInput{
		Sites:   []Site{{Name: "s1", Subnets: []netip.Prefix{netip.MustParsePrefix("127.0.1.0/24")}}},
		Servers: []Server{{Name: "Hub-A.example", Role: RoleHub, Site: "s1", Address: "127.0.1.1:25"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"hub-a.example", "Hub-A.example", "hub-a.example.", "HUB-A.EXAMPLE."} {
		if _, ok := topo.Server(n); !ok {
			t.Errorf("Server(%q) not found", n)
		}
		if known, ok := topo.ServerAt(n, netip.MustParseAddr("127.0.1.1")); !known || !ok {
			t.Errorf("ServerAt(%q) = %v, %v", n, known, ok)
		}
		if !topo.Transport(n) {
			t.Errorf("Transport(%q) false", n)
		}
	}
	if _, ok := topo.Server("hub-b.example"); ok {
		t.Errorf("another server found")
	}
}
