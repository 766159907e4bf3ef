package delivery

import (
	"testing"
	"time"

	"umbra/internal/routing"
)

// A holder is silent only once it had silentAfter to ask here: at this
// server's start none has asked yet, and a healthy holder, whose watch
// asks within a heartbeat timeout, is not handed its discards over a
// session of this server's at every start.
func TestHolderSilentNotAtStart(t *testing.T) {
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites: []routing.Site{{Name: "a"}},
		Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.120:25"},
			{Name: "hub-b", Role: routing.RoleHub, Site: "a", Address: "127.0.0.121:25"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{Hostname: "hub-a.test", Routing: routing.NewTable(nil, nil), Resolver: &fakeDNS{},
		Topology: topo, LocalServer: "hub-a", ShadowServerID: "hub-a", ShadowHeartbeatTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_000_000, 0)
	r := NewReceiptShadow(d, "db-a")
	r.now = func() time.Time { return now }
	if r.holderSilent("hub-b") {
		t.Fatal("hub-b silent at the start, before it had two heartbeat timeouts to ask here")
	}
	now = now.Add(time.Second)
	if r.holderSilent("hub-b") {
		t.Fatal("hub-b silent one heartbeat timeout after the start")
	}
	now = now.Add(time.Second)
	if !r.holderSilent("hub-b") {
		t.Fatal("hub-b not silent two heartbeat timeouts after the start with no query here")
	}
	r.ShadowSessionAsked("hub-b")
	if r.holderSilent("hub-b") {
		t.Fatal("hub-b silent right after its query here")
	}
	now = now.Add(2 * time.Second)
	if !r.holderSilent("hub-b") {
		t.Fatal("hub-b not silent two heartbeat timeouts after its last query")
	}
}
