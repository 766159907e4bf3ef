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

// rt19f F4: the made-again pass pushed a copy to a holder that took the
// session and hung; past the push's bound it gave up on the message
// until the next pass, whose probe of the hung holder holds the pass up
// for its bound before the copy is made elsewhere: two bounds, and a
// pass between. A push not answered in time is a failed try, as on
// receipt: the copy moves on to the next candidate in the same pass,
// and the holder, unconfirmed, may hold it (it gets the discard).
func TestRecopyMovesOnFromHungHolder(t *testing.T) {
	defer func(d time.Duration) { receiptTry = d }(receiptTry)
	receiptTry = 300 * time.Millisecond
	b := testsupport.StartHub(t, "127.0.0.2:0", testsupport.HubScript{HangAtMail: true})
	cAddr, cCopies := copyPeer(t, "127.0.0.3:0", "250 2.0.0 kept")
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites: []routing.Site{{Name: "a"}, {Name: "b"}},
		Links: []routing.SiteLink{{Name: "a-b", Sites: []string{"a", "b"}, Cost: 1}},
		Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.1:25"},
			{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: b.Addr()},
			{Name: "hub-c", Role: routing.RoleHub, Site: "b", Address: cAddr}},
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
	defer d.Close()
	r := NewReceiptShadow(d, "db-a")
	defer r.Close()
	s, q := openQueue(t, clock.NewFake(time.Now()))
	m := &queue.Message{OrgID: strings.Repeat("0", 31) + "1", From: "a@example.org",
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
	// The rotation puts hub-b first (a turn of 0 or 2 within site b).
	for i := uint64(0); ; i++ {
		r.next.Store(i)
		if plan := receiptTries(r.marked(time.Now()), []*routing.Server{{Name: "hub-b", Site: "b"}, {Name: "hub-c", Site: "b"}}, i+1, 2); plan[0].Name == "hub-b" {
			r.next.Store(i)
			break
		}
	}
	srv, err := r.Recopy(context.Background(), q, m.ID, nil)
	if err != nil || srv != "hub-c" {
		t.Fatalf("made again on %q: %v; want hub-c in the same pass after hub-b did not answer", srv, err)
	}
	if n := b.Count(); n != 1 || cCopies.Load() != 1 {
		t.Errorf("hub-b had %d sessions, hub-c %d copies; want 1 and 1", n, cCopies.Load())
	}
	if lines, _ := q.DiscardsPartial("hub-b", 10); len(lines) != 1 || lines[0] != m.OrgID {
		t.Errorf("owed to hub-b: %q; want the copy's discard (it may store the push it hung on)", lines)
	}
}
