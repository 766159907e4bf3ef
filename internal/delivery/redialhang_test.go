package delivery

import (
	"context"
	"net"
	"slices"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/routing"
	"umbra/internal/testsupport"
)

// SR-16, SR-17 (shadow26 review F3): a copy on receipt whose session broke
// is pushed again on a second session; the server now accepts the
// connection and answers nothing (hung). The second dial runs out its
// receiptTry while the caller's context is alive: the server did not
// answer and is marked (tried last), as before shadow26 item 5 — not
// left first in line for the next sender to wait on.
func TestReceiptRedialHungServerMarked(t *testing.T) {
	defer func(d time.Duration) { receiptTry = d }(receiptTry)
	receiptTry = 300 * time.Millisecond
	first := testsupport.StartHub(t, "127.0.0.1:0", testsupport.HubScript{EHLO: []string{"XSHADOW 20", "8BITMIME"}, XShadow: "250 2.0.0 dbC NAME=hub-c", DataReply: "250 2.0.0 kept"})
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
	l, err := r.Open(context.Background(), config.ShadowOnReceiptRemoteOnly)
	if err != nil || l.Server() != "hub-c" {
		t.Fatalf("open: %v", err)
	}
	first.Close()
	ln, err := net.Listen("tcp", cAddr) // accepts, never greets
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	m := &queue.Message{ID: 1, OrgID: "0123456789abcdef0123456789abcdef", From: "a@example.org",
		Rcpts: []queue.Recipient{{Addr: "b@example.net"}}}
	err = l.Push(context.Background(), m, queue.MemBody([]byte("Subject: x\r\n\r\nhi\r\n")))
	l.Done(err == nil)
	if err == nil {
		t.Fatal("push to a hung server succeeded")
	}
	keys, _ := d.health.Marks()
	if !slices.Contains(keys, "hub-c") && !slices.Contains(keys, cAddr) {
		t.Errorf("health marks %q after a second session that hung (%v): hub-c not marked as a server that did not answer", keys, err)
	}
}
