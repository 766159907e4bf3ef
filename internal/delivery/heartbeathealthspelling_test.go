package delivery

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"umbra/internal/orgid"
	"umbra/internal/queue"
	"umbra/internal/routing"
	"umbra/internal/testsupport"
)

// rr34 shadowrt33 review (SR-16, rt28e F3): the shadow manager runs a
// primary's heartbeats under the name its store lists — since
// primaryfold.go the folded one ("hub-c"), even for a primary the
// topology spells "Hub-C". The relays, the receive side and orderOrg key
// a server's refused: mark by the topology's spelling. A heartbeat's
// contact refused here must make relays try Hub-C last, and one let in
// must clear the refused: mark a relay set: one story in shadow list
// and queue destinations. Keyed by "hub-c" against "Hub-C", neither is.
func TestSRHeartbeatHealthMarksUnderTopologySpelling(t *testing.T) {
	hub := testsupport.StartHub(t, "127.0.0.214:15210", testsupport.HubScript{EHLO: []string{"XSHADOW 20"}, XShadow: "250 2.0.0 dbB"})
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites: []routing.Site{{Name: "a"}, {Name: "b"}},
		Links: []routing.SiteLink{{Name: "a-b", Sites: []string{"a", "b"}, Cost: 1}},
		Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "192.0.2.1:25"},
			{Name: "Hub-C", Role: routing.RoleHub, Site: "b", Address: hub.Addr()},
			{Name: "hub-d", Role: routing.RoleHub, Site: "b", Address: "192.0.2.4:25"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{Hostname: "hub-a.test", Routing: routing.NewTable(nil, nil), Resolver: &fakeDNS{},
		Topology: topo, LocalServer: "hub-a", ShadowServerID: "hub-a", ShadowRetriesRemote: 1, ShadowRetriesLocal: 1,
		ConnectTimeout: 2 * time.Second, CommandTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })

	// This server holds a copy Hub-C pushed (stating its name as the
	// topology spells it): the shadow manager heartbeats the name the
	// store lists for it.
	s, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	q := queue.NewManager(s, queue.DelivererFunc(func(context.Context, *queue.Message, []byte, []int) []queue.Result { return nil }), queue.ManagerConfig{})
	cp := &queue.Message{From: "s@example.org", OrgID: orgid.New(), Rcpts: []queue.Recipient{{Addr: "y@remote.example"}}}
	if stored, err := q.SubmitShadowCopy(context.Background(), cp, []byte("Subject: x\r\n\r\nx\r\n"), "Hub-C", hub.Addr(), "dbB"); err != nil || !stored {
		t.Fatalf("copy: %v %v", stored, err)
	}
	peers, err := q.ShadowPeers()
	if err != nil || len(peers) != 1 {
		t.Fatalf("peers %+v %v", peers, err)
	}
	name := peers[0].Primary // shadow.Manager: Heartbeat(ctx, p.Name, p.Addr, …)

	// A heartbeat whose contact is refused here (its database id kept as
	// another server's): relays try Hub-C last.
	d.Heartbeat(context.Background(), name, hub.Addr(), func(string, uint64, []string, bool) error { return anotherDBErr{} })
	if got, _ := orderOrg(d.health, []string{"Hub-C", "hub-d"}, []string{hub.Addr(), "192.0.2.4:25"}); got[0] == "Hub-C" {
		keys, _ := d.health.Marks()
		t.Errorf("heartbeat of %q refused here (marks %q): relays still try Hub-C first", name, keys)
	}

	// A relay to Hub-C refused (openShadow marks refused: under the hop,
	// the topology's name); then a heartbeat is let in: the mark goes.
	d.health.Unresponsive(time.Now(), "shadow session refused: 550 no", refusedKey("Hub-C"))
	d.Heartbeat(context.Background(), name, hub.Addr(), func(string, uint64, []string, bool) error { return nil })
	if keys, _ := d.health.Marks(); slices.Contains(keys, refusedKey("Hub-C")) {
		t.Errorf("heartbeat of %q let in: marks %q still hold refused:Hub-C (queue destinations says refused, shadow list healthy)", name, keys)
	}
}
