package routing

import (
	"net/netip"
	"testing"
)

// SR-1, SR-17 (shadow26 review F8): a hub listed by host name is
// recognised by the address that name resolved to at load: a smart host
// given by that IP address (at the server's port) is that topology
// server — a relay there stays inside the organisation (takendone.go),
// config check warns of it — and so is a next hop dialled at it
// (ServerWithAddress). Another port is another service.
func TestSmartHostByIPOfServerListedByName(t *testing.T) {
	topo, err := NewTopology(TopologyInput{Sites: []Site{{Name: "a"}}, Servers: []Server{
		{Name: "hub-a", Role: RoleHub, Site: "a", Address: "127.0.0.190:25"},
		{Name: "hub-b", Role: RoleHub, Site: "a", Address: "hub-b.corp.test:25"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	topo.SetHostAddresses(map[string][]netip.Addr{"hub-b.corp.test": {netip.MustParseAddr("127.0.0.191")}})
	for _, c := range []struct{ hostport, want string }{
		{"127.0.0.191:25", "hub-b"},
		{"[::ffff:127.0.0.191]:25", "hub-b"},
		{"hub-b.corp.test:25", "hub-b"},
		{"127.0.0.191:2525", ""},
		{"127.0.0.192:25", ""},
		{"127.0.0.190:25", "hub-a"},
	} {
		if got := topo.SmartHostServer(c.hostport, ""); got != c.want {
			t.Errorf("SmartHostServer(%s) = %q, want %q", c.hostport, got, c.want)
		}
		if got := topo.ServerWithAddress(c.hostport); got != c.want && c.hostport != "[::ffff:127.0.0.191]:25" {
			t.Errorf("ServerWithAddress(%s) = %q, want %q", c.hostport, got, c.want)
		}
	}
	if got := topo.SmartHostServer("127.0.0.191:25", "hub-b"); got != "" {
		t.Errorf("SmartHostServer(127.0.0.191:25, except hub-b) = %q, want none", got)
	}
}
