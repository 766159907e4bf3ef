package delivery

import (
	"testing"

	"umbra/internal/config"
	"umbra/internal/routing"
)

// OPS-42 item 4, SR-17 (rr42a): the one rule for "a smart host that is a
// server of the organisation" (ServerReached, which config check shares)
// reads a smart host as delivery dials it (config.SmartHostAddr): given
// without a port (the connector's, else 25), as an IPv6 literal bare,
// bracketed or spelled otherwise, by a name in another case or with a
// trailing dot — and a name only at the port of the server's address.
func TestOPS42ServerReachedReadsASmartHostAsDialled(t *testing.T) {
	topo, err := routing.NewTopology(routing.TopologyInput{Sites: []routing.Site{{Name: "a"}}, Servers: []routing.Server{
		{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "[2001:db8::1]:25"},
		{Name: "Hub-B.corp.test", Role: routing.RoleHub, Site: "a", Address: "hub-b.corp.test"},
		{Name: "hub-c", Role: routing.RoleHub, Site: "a", Address: "hub-c.corp.test:2525"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		sh   string
		port int
		want string
	}{
		{"2001:db8::1", 0, "hub-a"},
		{"[2001:db8::1]", 0, "hub-a"},
		{"[2001:DB8:0::1]:25", 0, "hub-a"},
		{"2001:db8::1", 587, ""},
		{"hub-a", 0, "hub-a"},
		{"hub-a", 26, ""},
		{"HUB-B.corp.test.", 0, "Hub-B.corp.test"},
		{"hub-b.CORP.test.:25", 0, "Hub-B.corp.test"},
		{"hub-b.corp.test", 587, ""},
		{"HUB-C.corp.test.", 2525, "hub-c"},
		{"hub-c", 2525, "hub-c"},
		{"hub-c.corp.test", 0, ""},
		{"hub-d.corp.test", 0, ""},
	} {
		hp := config.SmartHostAddr(c.sh, c.port)
		if got := ServerReached(topo, hp, ""); got != c.want {
			t.Errorf("smart host %q (connector port %d, dialled %s): ServerReached = %q, want %q", c.sh, c.port, hp, got, c.want)
		}
	}
	if got := ServerReached(topo, "[2001:db8::1]:25", "HUB-A."); got != "" {
		t.Errorf("ServerReached except this server (another spelling) = %q, want none", got)
	}
}
