package delivery

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"umbra/internal/queue"
	"umbra/internal/routing"
)

// Mail no send connector serves waits in the unreachable queue with a
// reply that says so, naming its domain — not "no route to no send
// connector" (the route's destination read as a host).
func TestUnreachableReplyNamesDomain(t *testing.T) {
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites:   []routing.Site{{Name: "a"}},
		Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.1:1"}},
		Connectors: []routing.SendConnector{{Name: "out", AddressSpaces: []routing.AddressSpace{{Domain: "served.example", Cost: 1}},
			SourceServers: []string{"hub-a"}, Enabled: true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{Hostname: "hub-a", Routing: routing.NewTable(nil, nil), Topology: topo, LocalServer: "hub-a"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	m := message("x@nowhere.example")
	res := d.Deliver(context.Background(), m, body, all(m))
	if len(res) != 1 || res[0].Outcome != queue.Deferred || res[0].Queue != "unreachable" {
		t.Fatalf("results %+v, want deferred in the unreachable queue", res)
	}
	if want := "451 4.4.4 no send connector serves nowhere.example"; res[0].Reply != want {
		t.Errorf("reply %q, want %q", res[0].Reply, want)
	}
	if strings.Contains(res[0].Reply, "no route to no") {
		t.Errorf("reply %q", res[0].Reply)
	}
}

// Q-2 (opsrt43 O3): without a topology too, mail no send connector
// serves is deferred with the reply the README quotes for the
// unreachable queue — "451 4.4.4 no send connector serves DOMAIN" — one
// text whichever routing found no connector, not a second wording.
func TestUnreachableReplySameWithoutTopology(t *testing.T) {
	d, err := New(Config{Hostname: "hub-a", Routing: routing.NewTable(nil, nil)})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	m := message("x@other.test")
	res := d.Deliver(context.Background(), m, body, all(m))
	if len(res) != 1 || res[0].Outcome != queue.Deferred || res[0].Queue != "unreachable" {
		t.Fatalf("results %+v, want deferred in the unreachable queue", res)
	}
	if want := "451 4.4.4 no send connector serves other.test"; res[0].Reply != want {
		t.Errorf("reply %q, want %q", res[0].Reply, want)
	}
}

// Q-6, RT-9 (opsrt43): a destination of the topology ("org:…") is named
// only while a topology is in force: a reload that drops the topology
// drops its next hops from queue destinations at once, as a removed
// send connector's, not "failing (1 in a row; no mail left)" until the
// hourly pruning.
func TestTopologyDestinationUnnamedWithoutTopology(t *testing.T) {
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites:   []routing.Site{{Name: "a"}},
		Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.1:1"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	with, err := New(Config{Hostname: "hub-a", Routing: routing.NewTable(nil, nil), Topology: topo, LocalServer: "hub-a"})
	if err != nil {
		t.Fatal(err)
	}
	defer with.Close()
	without, err := New(Config{Hostname: "hub-a", Routing: routing.NewTable(nil, nil)})
	if err != nil {
		t.Fatal(err)
	}
	defer without.Close()
	const key = "org:site:b"
	if !with.DestinationNamed(key) {
		t.Errorf("%s unnamed with a topology in force", key)
	}
	if without.DestinationNamed(key) {
		t.Errorf("%s named with no topology in force", key)
	}
}

// Q-6, RT-9 (sites47 F3 of an outside check): a reload that removes a
// server from the topology drops the idle destinations that name it
// ("org:site:beta/b1,b2": the route through both hubs of site beta) —
// no route names them again: the route is "org:site:beta/b2" now. They
// stayed listed idle in queue list and queue destinations beside the
// route in force until the hourly pruning. A destination whose servers
// are all in the topology stays named.
func TestTopologyDestinationUnnamedWhenItsServerLeftTheTopology(t *testing.T) {
	build := func(servers ...string) *Deliverer {
		t.Helper()
		in := routing.TopologyInput{Sites: []routing.Site{{Name: "alpha"}, {Name: "beta"}},
			Links: []routing.SiteLink{{Name: "a-b", Sites: []string{"alpha", "beta"}, Cost: 10}}}
		in.Servers = append(in.Servers, routing.Server{Name: "a1", Role: routing.RoleHub, Site: "alpha", Address: "127.0.0.1:1"})
		for i, s := range servers {
			in.Servers = append(in.Servers, routing.Server{Name: s, Role: routing.RoleHub, Site: "beta", Address: fmt.Sprintf("127.0.0.%d:1", i+2)})
		}
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
	before, after := build("b1", "b2"), build("b2")
	// "org:site:beta/b2" is not among them: with b1 and b2 both hubs of
	// beta no route names b2 alone (TestTopologyDestinationUnnamedWhenItsAddressOrSiteChanged).
	for _, key := range []string{"org:site:beta/b1,b2", "org:legacy:b1"} {
		if !before.DestinationNamed(key) {
			t.Errorf("%s unnamed while every server it names is in the topology", key)
		}
	}
	if !after.DestinationNamed("org:site:beta/b2") {
		t.Error("org:site:beta/b2 unnamed after b1 left the topology")
	}
	for _, key := range []string{"org:site:beta/b1,b2", "org:site:alpha/a1|site:beta/b1,b2", "org:legacy:b1"} {
		if after.DestinationNamed(key) {
			t.Errorf("%s named after b1 left the topology: it lingers idle in queue destinations", key)
		}
	}
}
