package delivery

import (
	"context"
	"slices"
	"testing"

	"umbra/internal/routing"
	"umbra/internal/testsupport"
)

// anotherDBErr is the queue's refusal of a database id it keeps as
// another server's.
type anotherDBErr struct{}

func (anotherDBErr) Error() string {
	return "transport database id dbB presented by hub-c is hub-b's here"
}
func (anotherDBErr) AnotherServersDatabase() bool { return true }

// SR-7, OPS-3 (rt28e F3, sibling): a watch session's or reconciliation's
// contact refused here (hub-c presents hub-b's database id) marks hub-c
// refused:hub-c, as a heartbeat's or relay's does, and one let in clears
// the mark: shadow list's refused state (the recorder's) and queue
// destinations' server:refused row tell one story. Before, these
// sessions set and ended the recorder's refusal only.
func TestPrimarySessionRefusedHereMarksAndClears(t *testing.T) {
	hub := testsupport.StartHub(t, "127.0.0.1:0", testsupport.HubScript{EHLO: []string{"XSHADOW 20"}, XShadow: "250 2.0.0 dbB"})
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites: []routing.Site{{Name: "a"}, {Name: "b"}},
		Links: []routing.SiteLink{{Name: "a-b", Sites: []string{"a", "b"}, Cost: 1}},
		Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.1:25"},
			{Name: "hub-c", Role: routing.RoleHub, Site: "b", Address: hub.Addr()}},
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{Hostname: "hub-a.test", Routing: routing.NewTable(nil, nil), Resolver: &fakeDNS{},
		Topology: topo, LocalServer: "hub-a", ShadowServerID: "hub-a", ShadowRetriesRemote: 1, ShadowRetriesLocal: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	refuse := func(string, uint64, []string, bool) error { return anotherDBErr{} }
	d.Reconcile(context.Background(), "hub-c", hub.Addr(), []string{"x"}, refuse)
	if keys, _ := d.health.Marks(); !slices.Contains(keys, refusedKey("hub-c")) {
		t.Fatalf("health marks %q after a reconciliation refused here: want refused:hub-c", keys)
	}
	letIn := func(string, uint64, []string, bool) error { return nil }
	d.Reconcile(context.Background(), "hub-c", hub.Addr(), []string{"x"}, letIn)
	if keys, _ := d.health.Marks(); slices.Contains(keys, refusedKey("hub-c")) {
		t.Fatalf("health marks %q after a reconciliation let in: want refused:hub-c cleared", keys)
	}
}
