package delivery

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/queue"
	"umbra/internal/routing"
	"umbra/internal/testsupport"
)

// answersAddr is a free address on 127.0.0.212, port 15000-15199.
func answersAddr(t *testing.T) string {
	t.Helper()
	for p := 15000; p < 15200; p++ {
		if ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.212:%d", p)); err == nil {
			addr := ln.Addr().String()
			ln.Close()
			return addr
		}
	}
	t.Fatal("no free port in 15000-15199 on 127.0.0.212")
	return ""
}

// answersTopology is hub-a (this server), hub-b at b and, when c is not
// "", hub-c at c, each in a site of its own.
func answersTopology(t *testing.T, b, c string) *routing.Topology {
	t.Helper()
	in := routing.TopologyInput{
		Sites: []routing.Site{{Name: "a"}, {Name: "b"}, {Name: "c"}},
		Links: []routing.SiteLink{{Name: "a-b", Sites: []string{"a", "b"}, Cost: 1}, {Name: "a-c", Sites: []string{"a", "c"}, Cost: 1}},
		Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.212:25"},
			{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: b}},
	}
	if c != "" {
		in.Servers = append(in.Servers, routing.Server{Name: "hub-c", Role: routing.RoleHub, Site: "c", Address: c})
	}
	topo, err := routing.NewTopology(in)
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

// SR-6, SR-17 (rr rrmix39): a copy taken as lost on a holder no probe
// reached (HowUnreachable) is not made on that holder again while its
// probes fail — but once a probe reaches it, it is a candidate again.
// The mark it answered into stays when it names a push to another
// server (HolderAnswered keeps it: the copy made again settles it); the
// push to hub-c here hung and may be stored there. With hub-c gone,
// hub-b answering was passed over at every pass and the message stayed
// held by this server only for good, its one other candidate up.
func TestSR6UnreachedHolderThatAnswersAgainTakesTheCopy(t *testing.T) {
	defer func(d time.Duration) { receiptTry = d }(receiptTry)
	receiptTry = 300 * time.Millisecond
	hubB := testsupport.StartHub(t, answersAddr(t), testsupport.HubScript{DataReply: "250 2.0.0 kept"})
	_, q := openQueue(t, clock.NewFake(time.Now()))
	cfg := Config{Hostname: "hub-a.test", Routing: routing.NewTable(nil, nil), Resolver: &fakeDNS{},
		Topology: answersTopology(t, hubB.Addr(), ""), LocalServer: "hub-a", ShadowServerID: "hub-a", ShadowRetriesRemote: 2, ShadowRetriesLocal: 2}
	d, err := New(cfg)
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
	if err := q.MarkSingleCopy(m.ID, "", ""); err != nil {
		t.Fatal(err)
	}
	if srv, err := r.Recopy(context.Background(), q, m.ID, nil); err != nil || srv != "hub-b" {
		t.Fatalf("first copy: on %q (%v), want hub-b", srv, err)
	}
	// hub-c joins, hung: a push to it is never answered.
	hubC := testsupport.StartHub(t, answersAddr(t), testsupport.HubScript{HangAtMail: true})
	cfg.Topology = answersTopology(t, hubB.Addr(), hubC.Addr())
	if err := d.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	// hub-b's probes failed for the bound: its copy is taken as lost,
	// and the pass's copy made again hangs on hub-c.
	if n, err := q.ShadowHolderUnreachable("hub-b", time.Now().Add(-time.Minute)); err != nil || n != 1 {
		t.Fatalf("taken as lost: %d (%v), want 1", n, err)
	}
	if srv, err := r.Recopy(context.Background(), q, m.ID, nil); srv != "" || err == nil {
		t.Fatalf("made again on %q (%v), want not made: hub-c hangs, hub-b is not reached", srv, err)
	}
	hubC.Close() // hub-c gone for good
	// hub-b answers a probe again: it holds its copy.
	if _, err := r.Probe(context.Background(), "hub-b"); err != nil {
		t.Fatalf("probe of hub-b: %v", err)
	}
	if _, err := q.ShadowHolderAnswered("hub-b"); err != nil {
		t.Fatal(err)
	}
	if _, ok := q.SingleCopyOf(m.ID); !ok {
		return // the mark went with hub-b's answer: held twice again
	}
	srv, err := r.Recopy(context.Background(), q, m.ID, nil)
	if err != nil || srv != "hub-b" {
		t.Errorf("after hub-b answered a probe: made again on %q (%v), want hub-b — the one candidate up, passed over for probes that fail no more", srv, err)
	}
	if _, ok := q.SingleCopyOf(m.ID); ok {
		t.Errorf("the message is still held by this server only, hub-b answering")
	}
}
