package delivery

import (
	"context"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/queue"
	"umbra/internal/routing"
)

// recopyWaiting is hub-a's made-again pass (a ReceiptShadow over a
// deliverer in a topology of site a, hub-a, and site b, the servers
// given) and its queue, which holds one message from a@example.org to
// b@example.net with no copy (NoCopy), organisation id 0…0org, waiting
// (Ready) after an attempt. All is closed when the test ends.
func recopyWaiting(t *testing.T, org string, servers ...routing.Server) (*ReceiptShadow, *queue.Manager, *queue.Message) {
	t.Helper()
	return recopyWaitingBudget(t, org, 4, servers...)
}

// recopyWaitingBudget is recopyWaiting with max_retries_remote_site_shadow
// remote.
func recopyWaitingBudget(t *testing.T, org string, remote int, servers ...routing.Server) (*ReceiptShadow, *queue.Manager, *queue.Message) {
	t.Helper()
	return recopyWaitingTimeout(t, org, remote, time.Hour, servers...)
}

// recopyWaitingTimeout is recopyWaitingBudget with command_timeout and
// data_timeout cmd.
func recopyWaitingTimeout(t *testing.T, org string, remote int, cmd time.Duration, servers ...routing.Server) (*ReceiptShadow, *queue.Manager, *queue.Message) {
	t.Helper()
	s, q := openQueue(t, clock.NewFake(time.Now()))
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites:   []routing.Site{{Name: "a"}, {Name: "b"}},
		Links:   []routing.SiteLink{{Name: "a-b", Sites: []string{"a", "b"}, Cost: 1}},
		Servers: append([]routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.1:25"}}, servers...),
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{Hostname: "hub-a.test", Routing: routing.NewTable(nil, nil), Resolver: &fakeDNS{},
		Topology: topo, LocalServer: "hub-a", ShadowServerID: "hub-a", ShadowRetriesRemote: remote, ShadowRetriesLocal: 2,
		CommandTimeout: cmd, DataTimeout: cmd})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	r := NewReceiptShadow(d, "db-a")
	t.Cleanup(r.Close)
	m := &queue.Message{OrgID: strings.Repeat("0", 31) + org, From: "a@example.org",
		Rcpts: []queue.Recipient{{Addr: "b@example.net"}}, NoCopy: true}
	if err := q.Submit(context.Background(), m, []byte("Subject: x\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(context.Background(), func(tx *queue.Tx) error { // its attempt deferred: waiting
		o, err := tx.Get(m.ID)
		if err != nil {
			return err
		}
		o.State = queue.Ready
		return tx.Put(o)
	}); err != nil {
		t.Fatal(err)
	}
	return r, q, m
}

// rt20h-F1 (SR-17): a receive session gave up on its push to hub-b at
// the bound and marked the message held by this server only before it
// made the copy on the next candidate; the made-again pass, its probe of
// hub-b passed as hub-b ran again, listed the mark and pushed the same
// message to hub-b on a new session — a second copy there, and the
// record naming hub-b over the server the session's reply named. While
// a receive session holds the message (HoldRecopy) the pass leaves it
// alone; once released, the pass makes the copy as before.
func TestRecopyLeavesAMessageItsReceiveSessionHolds(t *testing.T) {
	bAddr, bCopies := copyPeer(t, "127.0.0.2:0", "250 2.0.0 kept")
	r, q, m := recopyWaiting(t, "2", routing.Server{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: bAddr})
	release := r.HoldRecopy(m.ID)
	srv, err := r.Recopy(context.Background(), q, m.ID, nil)
	if err != nil || srv != "" || bCopies.Load() != 0 {
		t.Fatalf("pass while the receive session holds the message: made on %q (%v), hub-b has %d copies; want none pushed", srv, err, bCopies.Load())
	}
	release()
	srv, err = r.Recopy(context.Background(), q, m.ID, nil)
	if err != nil || srv != "hub-b" || bCopies.Load() != 1 {
		t.Fatalf("pass after release: made on %q (%v), hub-b has %d copies; want hub-b, 1", srv, err, bCopies.Load())
	}
}
