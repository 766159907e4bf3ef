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

// SR-7, SR-17 (rt32a F1): hub-a holds a message whose shadow copy was on
// the edge edge-e and is marked lost there (the mark names edge-e; the
// process test TestShadowCopyRemadeOnReturningEdge has edge-e come back
// with a new transport database). The copy is made again — but hub-a's only candidate for copies on receipt, hub-b,
// is down, and edges are no such candidate. The server that held the
// copy, answering again, is tried after the preference's: the copy is
// made there, not left undone until hub-b returns.
func TestRecopyOnReturningHolderWhenNoHubAnswers(t *testing.T) {
	edgeAddr, edgeCopies := copyPeer(t, "127.0.0.2:0", "250 2.0.0 kept")
	down := testsupport.FreeAddr(t, "127.0.0.3") // nothing listens: connection refused
	_, q := openQueue(t, clock.NewFake(time.Now()))
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites: []routing.Site{{Name: "a"}, {Name: "b"}},
		Links: []routing.SiteLink{{Name: "a-b", Sites: []string{"a", "b"}, Cost: 1}},
		Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.1:25"},
			{Name: "edge-e", Role: routing.RoleEdge, Site: "a", Address: edgeAddr},
			{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: down}},
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{Hostname: "hub-a.test", Routing: routing.NewTable(nil, nil), Resolver: &fakeDNS{},
		Topology: topo, LocalServer: "hub-a", ShadowServerID: "hub-a", ShadowRetriesRemote: 4, ShadowRetriesLocal: 2,
		CommandTimeout: time.Hour, DataTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	r := NewReceiptShadow(d, "db-a")
	t.Cleanup(r.Close)
	m := &queue.Message{OrgID: strings.Repeat("0", 31) + "7", From: "a@example.org",
		Rcpts: []queue.Recipient{{Addr: "b@example.net"}}}
	if err := q.Submit(context.Background(), m, []byte("Subject: x\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	// Its copy on edge-e lost (the mark names the server it was on).
	if err := q.MarkSingleCopy(m.ID, "edge-e", ""); err != nil {
		t.Fatal(err)
	}
	srv, err := r.Recopy(context.Background(), q, m.ID, nil)
	if err != nil || srv != "edge-e" || edgeCopies.Load() != 1 {
		t.Fatalf("made again on %q (%v), edge-e has %d copies; want edge-e, the server that held it, after hub-b did not answer", srv, err, edgeCopies.Load())
	}
	if sc, ok := q.SingleCopyOf(m.ID); ok {
		t.Errorf("still marked held by this server only: %+v", sc)
	}
}
