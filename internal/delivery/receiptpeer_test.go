package delivery

import (
	"context"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/routing"
	"umbra/internal/testsupport"
)

// SR-17 with three hubs: hub-a copies on receipt, prefer-remote, with
// retry budgets of 3. hub-b, the only server of the other site, is down;
// hub-c is in hub-a's site. The copy goes to hub-c after one try of
// hub-b (not three), and the next copy goes to hub-c without trying
// hub-b again: it failed recently (destination health).
func TestReceiptCopyMovesOffADeadPeer(t *testing.T) {
	b := deadPeer(t, "127.0.0.2:0")
	bAddr := b.Addr()
	c := testsupport.StartHub(t, "127.0.0.3:0", testsupport.HubScript{})
	cAddr := c.Addr()
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites: []routing.Site{{Name: "a"}, {Name: "b"}},
		Links: []routing.SiteLink{{Name: "a-b", Sites: []string{"a", "b"}, Cost: 1}},
		Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.1:25"},
			{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: bAddr},
			{Name: "hub-c", Role: routing.RoleHub, Site: "a", Address: cAddr}},
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{Hostname: "hub-a.test", Routing: routing.NewTable(nil, nil), Resolver: &fakeDNS{},
		Topology: topo, LocalServer: "hub-a", ShadowServerID: "hub-a", ShadowRetriesRemote: 3, ShadowRetriesLocal: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	r := NewReceiptShadow(d, "db-a")
	defer r.Close()
	for i := range 2 {
		link, err := r.Open(context.Background(), config.ShadowOnReceiptPreferRemote)
		if err != nil {
			t.Fatalf("copy %d: %v", i, err)
		}
		if link.Server() != "hub-c" {
			t.Fatalf("copy %d on %s, want hub-c", i, link.Server())
		}
		link.Done(false) // a new session for the next copy
	}
	if n := b.Count(); n != 1 {
		t.Errorf("the dead hub-b was tried %d times for 2 copies, want once", n)
	}
	if n := c.Count(); n != 2 {
		t.Errorf("hub-c had %d sessions, want 2", n)
	}
}

// SR-17: a copy on receipt to a peer that hangs after taking the session
// fails within the bound of its tries (README: each try 10 s), so the
// sender gets its reply; before, the push waited on the session's data
// timeout (minutes) and the sender timed out and sent the message again.
func TestReceiptCopyToAHungPeerIsBounded(t *testing.T) {
	defer func(d time.Duration) { receiptTry = d }(receiptTry)
	receiptTry = 300 * time.Millisecond
	bAddr := testsupport.StartHub(t, "127.0.0.2:0", testsupport.HubScript{HangAtMail: true}).Addr()
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites: []routing.Site{{Name: "a"}},
		Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.1:25"},
			{Name: "hub-b", Role: routing.RoleHub, Site: "a", Address: bAddr}},
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{Hostname: "hub-a.test", Routing: routing.NewTable(nil, nil), Resolver: &fakeDNS{},
		Topology: topo, LocalServer: "hub-a", ShadowServerID: "hub-a", ShadowRetriesRemote: 1, ShadowRetriesLocal: 1,
		CommandTimeout: time.Hour, DataTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	r := NewReceiptShadow(d, "db-a")
	defer r.Close()
	link, err := r.Open(context.Background(), config.ShadowOnReceiptLocalOnly)
	if err != nil {
		t.Fatal(err)
	}
	m := &queue.Message{ID: 1, OrgID: "0123456789abcdef0123456789abcdef", From: "a@example.org",
		Rcpts: []queue.Recipient{{Addr: "b@example.net"}}}
	done := make(chan error, 1)
	go func() { done <- link.Push(context.Background(), m, queue.MemBody([]byte("Subject: x\r\n\r\nhi\r\n"))) }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a push to a hung peer succeeded")
		}
	case <-time.After(30 * time.Second): // a bound on the test: the push's data timeout is an hour
		t.Fatal("a push to a hung peer was not bounded by its tries")
	}
	link.Done(false)
}
