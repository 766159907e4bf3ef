package routing

import (
	"net/netip"
	"testing"
)

// SR-1, SR-3 (shadow26 items 1, 2): whether the topology lists a
// server's addresses and a connection's address is one of them, for a
// server listed by IP, by a host name resolved at load (several
// addresses), by a name that did not resolve, and with source_addresses;
// and whether two servers are one host, one listed by name and one by IP.
func TestServerAddressedAndSameHost(t *testing.T) {
	topo, err := NewTopology(TopologyInput{
		Sites: []Site{{Name: "a"}},
		Servers: []Server{
			{Name: "by-ip", Role: RoleHub, Site: "a", Address: "127.0.0.190:25"},
			{Name: "by-name", Role: RoleHub, Site: "a", Address: "Hub.Corp.Test.:25"},
			{Name: "unresolved", Role: RoleHub, Site: "a", Address: "gone.corp.test:25"},
			{Name: "unresolved-src", Role: RoleHub, Site: "a", Address: "gone.corp.test:26", Sources: []netip.Prefix{netip.MustParsePrefix("127.0.0.193/32")}},
			{Name: "same-ip", Role: RoleHub, Site: "a", Address: "127.0.0.191:25"},
			{Name: "other-port", Role: RoleHub, Site: "a", Address: "127.0.0.191:26"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := topo.ServerHostNames(); len(got) != 2 {
		t.Errorf("ServerHostNames = %v, want hub.corp.test and gone.corp.test", got)
	}
	topo.SetHostAddresses(map[string][]netip.Addr{"hub.corp.test": {netip.MustParseAddr("127.0.0.192"), netip.MustParseAddr("127.0.0.191")}})
	ip := netip.MustParseAddr
	for _, c := range []struct {
		name       string
		ip         string
		listed, ok bool
	}{
		{"by-ip", "127.0.0.190", true, true},
		{"by-ip", "127.0.0.194", true, false},
		{"by-name", "127.0.0.192", true, true},
		{"by-name", "127.0.0.191", true, true},
		{"by-name", "127.0.0.190", true, false},
		{"unresolved", "127.0.0.190", false, false},
		{"unresolved-src", "127.0.0.193", true, true},
		{"unresolved-src", "127.0.0.190", true, false},
		{"nobody", "127.0.0.190", false, false},
	} {
		if listed, ok := topo.ServerAddressed(c.name, ip(c.ip)); listed != c.listed || ok != c.ok {
			t.Errorf("ServerAddressed(%s, %s) = %v, %v; want %v, %v", c.name, c.ip, listed, ok, c.listed, c.ok)
		}
	}
	if got := topo.ServerFrom(ip("127.0.0.192")); got != "by-name" {
		t.Errorf("ServerFrom(127.0.0.192) = %q, want by-name (its host name resolved there)", got)
	}
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"by-name", "same-ip", true},
		{"same-ip", "by-name", true},
		{"by-name", "other-port", false},
		{"by-name", "by-ip", false},
		{"unresolved", "by-ip", false},
	} {
		if got := topo.SameHost(c.a, c.b); got != c.want {
			t.Errorf("SameHost(%s, %s) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}
