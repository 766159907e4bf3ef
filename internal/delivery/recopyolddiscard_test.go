package delivery

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/queue"
	"umbra/internal/routing"
	"umbra/internal/testsupport"
)

// SR-3, SR-7, SR-17: a message relayed in from the edge edge-e in a shadow
// session (edge-e keeps the relay's copy, id R). An operator's hold
// settles that copy — the discard of R is owed to edge-e — and edge-e,
// down meanwhile, has not fetched it when the message is released and
// its copy made again. The copy made again goes to edge-e (the former
// holder, hub-b down), under the org id; edge-e folds it into the relay's
// copy it still keeps ("kept as that same copy ... settled by the
// primary's discard whichever id it names"). The discard of R must not
// stay owed to edge-e: fetched after the push it drops the copy the
// record now names as edge-e's, and the message is on this disk alone
// with no mark.
func TestRecopyOnFormerHolderWithdrawsOldDiscard(t *testing.T) {
	// As an edge of hub-a's site, and — the mechanism does not depend on
	// the former holder's role — as a hub of the preference (named edge-e
	// still).
	for _, role := range []string{"edge", "relaying hub"} {
		t.Run(role, func(t *testing.T) {
			withdrawsOldDiscard(t, role == "edge")
		})
	}
}

func withdrawsOldDiscard(t *testing.T, edge bool) {
	edgeAddr, edgeCopies := copyPeer(t, "127.0.0.2:0", "250 2.0.0 kept")
	down := testsupport.FreeAddr(t, "127.0.0.3")
	_, q := openQueue(t, clock.NewFake(time.Now()))
	in := routing.TopologyInput{
		Sites: []routing.Site{{Name: "a"}, {Name: "b"}},
		Links: []routing.SiteLink{{Name: "a-b", Sites: []string{"a", "b"}, Cost: 1}},
		Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.1:25"},
			{Name: "edge-e", Role: routing.RoleEdge, Site: "a", Address: edgeAddr},
			{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: down}},
	}
	if !edge {
		in = routing.TopologyInput{
			Sites: []routing.Site{{Name: "a"}, {Name: "b"}, {Name: "c"}},
			Links: []routing.SiteLink{{Name: "a-b", Sites: []string{"a", "b"}, Cost: 1}, {Name: "a-c", Sites: []string{"a", "c"}, Cost: 1}},
			Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.1:25"},
				{Name: "edge-e", Role: routing.RoleHub, Site: "b", Address: edgeAddr},
				{Name: "hub-b", Role: routing.RoleHub, Site: "c", Address: down}},
		}
	}
	topo, err := routing.NewTopology(in)
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
	const relayID = "edge-e-relay-17"
	m := &queue.Message{OrgID: strings.Repeat("0", 31) + "9", From: "a@example.org",
		Rcpts:        []queue.Recipient{{Addr: "b@example.net"}},
		ShadowServer: "edge-e", ShadowID: relayID}
	if err := q.Submit(context.Background(), m, []byte("Subject: x\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	suspendOnceIdle(t, q, m.ID)
	if err := q.ResumeMessage(context.Background(), m.ID); err != nil {
		t.Fatal(err)
	}
	sc, ok := q.SingleCopyOf(m.ID)
	if !ok || sc.Lost != "edge-e" {
		t.Fatalf("after the release: mark %+v %v, want one naming edge-e", sc, ok)
	}
	before, _ := q.Discards("edge-e", 100)
	t.Logf("owed to edge-e after the release: %v", before)
	srv, err := r.Recopy(context.Background(), q, m.ID, nil)
	if err != nil || srv != "edge-e" || edgeCopies.Load() != 1 {
		t.Fatalf("made again on %q (%v), edge-e has %d copies", srv, err, edgeCopies.Load())
	}
	if _, ok := q.SingleCopyOf(m.ID); ok {
		t.Fatalf("still marked")
	}
	owed, _ := q.Discards("edge-e", 100)
	if slices.Contains(owed, relayID) {
		t.Errorf("the record names edge-e as the holder of the copy made again, yet the discard of the relay's copy %s is still owed to edge-e (%v): edge-e folded the new copy into that one and drops it when it fetches the discard", relayID, owed)
	}
}

// suspendOnceIdle suspends message id, trying again (a bounded number of
// times) while the submission's own hand-off still has it in delivery.
func suspendOnceIdle(t *testing.T, q *queue.Manager, id queue.ID) {
	t.Helper()
	for i := 0; ; i++ {
		err := q.SuspendMessage(context.Background(), id)
		if err == nil {
			return
		}
		if !errors.Is(err, queue.ErrBusy) || i == 500 {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
