package delivery

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"umbra/internal/orgid"
	"umbra/internal/queue"
	"umbra/internal/routing"
)

// SR-15: the discards owed to a former holder (hub-b, no
// longer in hub-p's topology) are pushed to the address hub-p once made
// copies at (holderaddrs). That address now belongs to another transport
// server of the topology, hub-d, which holds the live copy of the same
// message under the same id (a copy on receipt is named by its org id:
// a copy made again on hub-d after the push to hub-b went unconfirmed,
// queue holders.go nameCopyHolder, owes hub-b the discard of the org id
// while the message is still queued here). hub-p pushes hub-b's discard
// to hub-d without checking who answered (the stated NAME, the database
// id hub-b was met with): hub-d drops its copy of a message that was not
// delivered — the message's one redundant copy is lost.
func TestSR15FormerHolderDiscardNotPushedToAnotherServerAtItsAddress(t *testing.T) {
	// hub-d: a real holder (real queue, real receive connector) with a
	// copy of hub-p's message oid.
	hq, hubD, cp := startHolderWithCopy(t, "hub-d", "hub-d.test")
	oid := cp.OrgID

	// hub-p, the primary: owes hub-b (removed from its topology) the
	// discard of oid; it once reached hub-b at the address hub-d has now.
	st, q := openDiscardPrimary(t)
	if err := st.Update(context.Background(), func(tx *queue.Tx) error {
		return tx.AddDiscard("hub-b", oid, time.Now())
	}); err != nil {
		t.Fatal(err)
	}
	if err := q.NoteHolderAddress("hub-b", hubD); err != nil {
		t.Fatal(err)
	}
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites: []routing.Site{{Name: "a"}, {Name: "b"}},
		Links: []routing.SiteLink{{Name: "a-b", Sites: []string{"a", "b"}, Cost: 1}},
		Servers: []routing.Server{{Name: "hub-p", Role: routing.RoleHub, Site: "a", Address: "127.0.0.1:1"},
			{Name: "hub-d", Role: routing.RoleHub, Site: "b", Address: hubD}},
	})
	if err != nil {
		t.Fatal(err)
	}
	pushOwedDiscardsAsHubP(t, q, topo)
	if _, err := hq.Message(cp.ID); err != nil {
		t.Fatalf("hub-d's copy of an undelivered message is gone after hub-p pushed hub-b's discard to hub-b's old address (now hub-d's): %v", err)
	}
	if servers, _ := q.OwedDiscardServers(); len(servers) != 1 {
		t.Fatalf("hub-b's discard counted handed over (owed now: %q) although hub-b never got it", servers)
	}
}

// startHolderWithCopy starts a real shadow holder, name (real queue,
// real receive connector stating NAME host), that hub-p (database db-p)
// presented itself to, holding hub-p's shadow copy cp of a new message;
// it returns the holder's queue and address.
func startHolderWithCopy(t *testing.T, name, host string) (hq *queue.Manager, addr string, cp *queue.Message) {
	t.Helper()
	hs, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hs.Close() })
	hq = queue.NewManager(hs, queue.DelivererFunc(func(context.Context, *queue.Message, []byte, []int) []queue.Result { return nil }), queue.ManagerConfig{})
	if _, err := hq.ShadowPresented("hub-p", "db-p", nil); err != nil {
		t.Fatal(err)
	}
	addr = startTransportServer(t, name, host, "holder.yaml", hq, hq)
	cp = &queue.Message{From: "s@example.org", OrgID: orgid.New(), Rcpts: []queue.Recipient{{Addr: "y@remote.example"}}}
	if stored, err := hq.SubmitShadowCopy(context.Background(), cp, []byte("Subject: x\r\n\r\nx\r\n"), "hub-p", "127.0.0.1:1", "db-p"); err != nil || !stored {
		t.Fatalf("%s's copy: stored %v, %v", name, stored, err)
	}
	return hq, addr, cp
}

// openDiscardPrimary opens hub-p's database and queue (not started):
// the primary that owes a former holder discards.
func openDiscardPrimary(t *testing.T) (*queue.Store, *queue.Manager) {
	t.Helper()
	st, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, queue.NewManager(st, queue.DelivererFunc(func(context.Context, *queue.Message, []byte, []int) []queue.Result { return nil }), queue.ManagerConfig{})
}

// pushOwedDiscardsAsHubP pushes the discards q owes, once, by a
// delivery engine of hub-p in topo.
func pushOwedDiscardsAsHubP(t *testing.T, q *queue.Manager, topo *routing.Topology) {
	t.Helper()
	d, err := New(Config{Hostname: "hub-p.test", Routing: routing.NewTable(nil, nil), Topology: topo, LocalServer: "hub-p",
		ShadowServerID: "hub-p", Resolver: &fakeDNS{}, ConnectTimeout: 2 * time.Second, CommandTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	d.PushOwedDiscards(context.Background(), q, StopPushPerServer)
}
