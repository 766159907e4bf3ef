package delivery

import (
	"testing"

	"umbra/internal/routing"
)

// Q-6, RT-9 (receipt48 item 5): a destination of the topology is named
// only while the topology in force can still produce it. Beside a
// removed server (TestTopologyDestinationUnnamedWhenItsServerLeftTheTopology):
// a per-address destination ("org:HOST:PORT", one server's sessions)
// whose address no server of the topology has any more — its server
// removed or given another address —, and a site's destination whose
// server set changed — a server of it moved to another site, or a hub of
// the same version added to it (the route is "site:beta/b1,b2" now, not
// "site:beta/b2") — linger idle in queue destinations otherwise.
func TestTopologyDestinationUnnamedWhenItsAddressOrSiteChanged(t *testing.T) {
	build := func(servers ...routing.Server) *Deliverer {
		t.Helper()
		in := routing.TopologyInput{Sites: []routing.Site{{Name: "alpha"}, {Name: "beta"}},
			Links: []routing.SiteLink{{Name: "a-b", Sites: []string{"alpha", "beta"}, Cost: 10}}}
		in.Servers = append([]routing.Server{{Name: "a1", Role: routing.RoleHub, Site: "alpha", Address: "127.0.0.1:1"}}, servers...)
		topo, err := routing.NewTopology(in)
		if err != nil {
			t.Fatal(err)
		}
		d, err := New(Config{Hostname: "a1", Routing: routing.NewTable(nil, nil), Topology: topo, LocalServer: "a1"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		return d
	}
	b1 := routing.Server{Name: "b1", Role: routing.RoleHub, Site: "beta", Address: "127.0.0.2:1"}
	b2 := routing.Server{Name: "b2", Role: routing.RoleHub, Site: "beta", Address: "127.0.0.3:1"}
	b1Moved, b1Readdressed := b1, b1
	b1Moved.Site = "alpha"
	b1Readdressed.Address = "127.0.0.4:1"

	before := build(b1, b2)
	for _, key := range []string{"org:site:beta/b1,b2", "org:127.0.0.2:1", "org:127.0.0.3:1"} {
		if !before.DestinationNamed(key) {
			t.Errorf("%s unnamed while the topology in force produces it", key)
		}
	}
	for _, c := range []struct {
		name string
		d    *Deliverer
		gone []string
		kept []string
	}{
		{"b1 removed", build(b2), []string{"org:127.0.0.2:1"}, []string{"org:127.0.0.3:1", "org:site:beta/b2"}},
		{"b1 readdressed", build(b1Readdressed, b2), []string{"org:127.0.0.2:1"}, []string{"org:127.0.0.4:1", "org:site:beta/b1,b2"}},
		{"b1 moved to alpha", build(b1Moved, b2), []string{"org:site:beta/b1,b2"}, []string{"org:site:beta/b2", "org:127.0.0.2:1"}},
		{"b3 added to beta", build(b1, b2, routing.Server{Name: "b3", Role: routing.RoleHub, Site: "beta", Address: "127.0.0.5:1"}),
			[]string{"org:site:beta/b1,b2"}, []string{"org:site:beta/b1,b2,b3"}},
	} {
		for _, key := range c.gone {
			if c.d.DestinationNamed(key) {
				t.Errorf("%s: %s still named: no route names it now, and it lingers idle in queue destinations", c.name, key)
			}
		}
		for _, key := range c.kept {
			if !c.d.DestinationNamed(key) {
				t.Errorf("%s: %s unnamed though the topology in force produces it", c.name, key)
			}
		}
	}
}
