package delivery

import (
	"context"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/queue"
	"umbra/internal/routing"
	"umbra/internal/testsupport"
)

// receipt42IP is the loopback address of the receipt42 tests (ports
// 38000-38999).
const receipt42IP = "127.0.0.131"

// SR-17 (receipt42 item 3): the former holder of a copy made again is a
// try of its kind's retry budget like any candidate. hub-a's copy of a
// message was on hub-b and failed there (the mark names it); the budget
// of the other sites' servers is one try. The pass tries hub-c (hub-b
// is marked: it failed), which is down — the budget is spent. hub-b,
// the former holder, was then tried too, one try over the budget.
func TestSR17FormerHolderCountsAgainstTheBudget(t *testing.T) {
	bHub := testsupport.StartHub(t, testsupport.AddrInRange(t, receipt42IP, 38000, 500), testsupport.HubScript{DataReply: "250 2.0.0 kept"})
	down := testsupport.AddrInRange(t, receipt42IP, 38500, 500) // nothing listens: connection refused
	_, q := openQueue(t, clock.NewFake(time.Now()))
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites: []routing.Site{{Name: "a"}, {Name: "b"}},
		Links: []routing.SiteLink{{Name: "a-b", Sites: []string{"a", "b"}, Cost: 1}},
		Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: receipt42IP + ":25"},
			{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: bHub.Addr()},
			{Name: "hub-c", Role: routing.RoleHub, Site: "b", Address: down}},
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{Hostname: "hub-a.test", Routing: routing.NewTable(nil, nil), Resolver: &fakeDNS{},
		Topology: topo, LocalServer: "hub-a", ShadowServerID: "hub-a", ShadowRetriesRemote: 1, ShadowRetriesLocal: 0,
		CommandTimeout: time.Hour, DataTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	r := NewReceiptShadow(d, "db-a")
	t.Cleanup(r.Close)
	m := &queue.Message{OrgID: strings.Repeat("0", 31) + "9", From: "a@example.org",
		Rcpts: []queue.Recipient{{Addr: "b@example.net"}}}
	if err := q.Submit(context.Background(), m, []byte("Subject: x\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := q.MarkSingleCopy(m.ID, "hub-b", ""); err != nil {
		t.Fatal(err)
	}
	d.health.Unresponsive(time.Now(), "shadow copy on receipt: push failed", "hub-b", bHub.Addr())
	srv, err := r.Recopy(context.Background(), q, m.ID, nil)
	if srv != "" || err == nil {
		t.Errorf("made again on %q (%v); want no copy: the one try of the budget went to hub-c", srv, err)
	}
	if n := bHub.Count(); n != 0 {
		t.Errorf("hub-b, the former holder, got %d sessions past the budget of one try", n)
	}
}
