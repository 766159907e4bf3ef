package delivery

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/config"
	"umbra/internal/mailaddr"
	"umbra/internal/queue"
	"umbra/internal/routing"
	"umbra/internal/smtp"
	"umbra/internal/testsupport"
)

// watchClosedIP is the loopback address of the rdwatch45 tests (ports
// 43000-43499).
const watchClosedIP = "127.0.0.190"

// startTransportServerAt is startTransportServer bound to addr.
func startTransportServerAt(t *testing.T, name, host, file, addr string, q smtp.Queue, sh smtp.ShadowVerbs) string {
	t.Helper()
	cfg, err := config.Parse([]byte(fmt.Sprintf(`server: {name: %s}
receive_connectors:
  - name: transport
    bindings: ["%s"]
    remote_ranges: ["127.0.0.0/8"]
    externally_secured: true
    permissions: {anonymous: [submit, relay, accept-xshadow]}
`, name, addr)), file)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := smtp.NewServer(smtp.ServerConfig{Hostname: host, Connectors: cfg.ReceiveConnectors,
		Queue: q, Shadow: sh, ShadowEnabled: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	srv.Serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return srv.Addrs()[0].String()
}

// SR-17, rdwatch45: hub-b's pushes hung lately and its watch session is
// open, so the pass waits for that session to fetch the discard owed to
// hub-b. hub-b is killed while its long poll is held: the commit naming
// hub-c wakes the poll, its reply meets a closed connection, and the
// session ends (Logout) — no one will fetch the discard before hub-b's
// next contact. The pass must stop waiting then, not sit out the whole
// share of the bound (half of receiptDiscardPush: 2 s here, 1 s in
// production) for a session that is gone: each receipt under way then
// held its 250 for nothing.
func TestSR17WatchSessionClosedEndsTheWaitForItsFetch(t *testing.T) {
	defer func(d time.Duration) { receiptDiscardPush = d }(receiptDiscardPush)
	receiptDiscardPush = 4 * time.Second
	bHub := testsupport.StartHub(t, testsupport.AddrInRange(t, watchClosedIP, 43000, 100), testsupport.HubScript{
		Fault: testsupport.FaultDotEOF, EHLO: []string{"XSHADOW 13", "8BITMIME"}})
	cHub := testsupport.StartHub(t, testsupport.AddrInRange(t, watchClosedIP, 43100, 100), testsupport.HubScript{DataReply: "250 2.0.0 kept"})
	_, q := openQueue(t, clock.NewFake(time.Now()))
	addr := startTransportServerAt(t, "hub-a", "hub-a.test", "hub-a.yaml", testsupport.AddrInRange(t, watchClosedIP, 43200, 100), q, q)
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites: []routing.Site{{Name: "a"}, {Name: "b"}},
		Links: []routing.SiteLink{{Name: "a-b", Sites: []string{"a", "b"}, Cost: 1}},
		Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: addr},
			{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: bHub.Addr()},
			{Name: "hub-c", Role: routing.RoleHub, Site: "b", Address: cHub.Addr()}},
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{Hostname: "hub-a.test", Routing: routing.NewTable(nil, nil), Resolver: &fakeDNS{},
		Topology: topo, LocalServer: "hub-a", ShadowServerID: "hub-a", ShadowRetriesRemote: 4, ShadowRetriesLocal: 0,
		CommandTimeout: time.Hour, DataTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	r := NewReceiptShadow(d, "db-a")
	t.Cleanup(r.Close)
	m := &queue.Message{OrgID: strings.Repeat("0", 31) + "e", From: "a@example.org",
		Rcpts: []queue.Recipient{{Addr: "b@example.net"}}}
	if err := q.Submit(context.Background(), m, []byte("Subject: x\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := q.MarkSingleCopy(m.ID, "hub-x", ""); err != nil {
		t.Fatal(err)
	}
	d.health.Unresponsive(time.Now(), "failed heartbeat", "hub-c", cHub.Addr()) // hub-b first
	r.hungAt.Store(mailaddr.NameKey("hub-b"), r.clock())                        // its pushes hung lately

	// hub-b's watch session: one long poll, then hub-b is killed (its
	// connection closed) while the poll is held.
	nc := dialT(t, addr)
	c, err := smtp.NewClient(context.Background(), nc, smtp.ClientOptions{LocalName: "hub-b.test", TLS: smtp.TLSNone, CommandTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Shadow("hub-b"); err != nil {
		t.Fatal(err)
	}
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		c.WaitDiscard(1000, 30*time.Second)
	}()
	for deadline := time.Now().Add(5 * time.Second); !q.Watched("hub-b"); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("hub-b's long poll never registered its watch session")
		}
	}
	nc.Close() // killed
	<-polled

	start := time.Now()
	srv, err := r.Recopy(context.Background(), q, m.ID, nil)
	took := time.Since(start)
	if srv != "hub-c" || err != nil {
		t.Fatalf("made again on %q (%v); want hub-c after hub-b's push got no reply", srv, err)
	}
	if bHub.Faults.Load() == 0 {
		t.Fatal("hub-b's fault never struck: the test proves nothing")
	}
	if q.Watched("hub-b") {
		t.Fatal("hub-b's watch session is closed, yet it still counts as watching")
	}
	if took >= receiptDiscardPush/2 {
		t.Errorf("the pass took %v: it waited out the share of the bound (%v) for a watch session that had closed", took, receiptDiscardPush/2)
	}
}
