package delivery

import (
	"context"
	"errors"
	"slices"
	"testing"

	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/routing"
	"umbra/internal/testsupport"
)

// SR-17 (shadow26 item 5): a copy on receipt whose session broke is
// pushed again on a second session to the same server; that server
// turned out meanwhile to be a copy of another's data dir (it presents
// an id kept here as hub-b's under its own name, hub-c). The second
// dial's failure is the same refusal as a first dial's: the server is
// marked refused:hub-c (tried last, shown in queue destinations), not
// as a server that failed.
func TestReceiptRedialOfCopiedDataDirIsARefusal(t *testing.T) {
	script := func(db string) testsupport.HubScript {
		return testsupport.HubScript{EHLO: []string{"XSHADOW 20", "8BITMIME"}, XShadow: "250 2.0.0 " + db + " NAME=hub-c", DataReply: "250 2.0.0 kept"}
	}
	first := testsupport.StartHub(t, "127.0.0.1:0", script("dbC"))
	cAddr := first.Addr()
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites: []routing.Site{{Name: "a"}, {Name: "b"}},
		Links: []routing.SiteLink{{Name: "a-b", Sites: []string{"a", "b"}, Cost: 1}},
		Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.1:25"},
			{Name: "hub-c", Role: routing.RoleHub, Site: "b", Address: cAddr}},
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
	r := NewReceiptShadow(d, "db-a")
	defer r.Close()
	r.holders = &switchingHolders{} // dbB is kept as hub-b's
	l, err := r.Open(context.Background(), config.ShadowOnReceiptRemoteOnly)
	if err != nil || l.Server() != "hub-c" {
		t.Fatalf("open: %v", err)
	}
	// hub-c's host goes; a copy of hub-b's data dir answers at its
	// address, stating hub-c.
	first.Close()
	testsupport.StartHub(t, cAddr, script("dbB"))
	m := &queue.Message{ID: 1, OrgID: "0123456789abcdef0123456789abcdef", From: "a@example.org",
		Rcpts: []queue.Recipient{{Addr: "b@example.net"}}}
	err = l.Push(context.Background(), m, queue.MemBody([]byte("Subject: x\r\n\r\nhi\r\n")))
	l.Done(err == nil)
	if !errors.Is(err, errHolderRefusedHere) {
		t.Fatalf("push over the second session: %v; want the refusal of a copied data dir", err)
	}
	keys, _ := d.health.Marks()
	if !slices.Contains(keys, refusedKey("hub-c")) {
		t.Errorf("health marks %q: hub-c not marked refused:hub-c", keys)
	}
	for _, k := range []string{"hub-c", cAddr} {
		if slices.Contains(keys, k) {
			t.Errorf("health marks %q: hub-c marked as a server that failed (%s), as an ordinary error", keys, k)
		}
	}
}
