package delivery

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/mailaddr"
	"umbra/internal/queue"
	"umbra/internal/routing"
	"umbra/internal/smtp"
	"umbra/internal/testsupport"
)

// watchFetchIP is the loopback address of the watch-fetch tests (ports
// 6400-6599).
const watchFetchIP = "127.0.0.186"

// SR-17 (CI of session 44, TestSR17OwedDiscardReachesTheWatchingServerBeforeTheKill):
// hub-b's push of a copy on receipt got no reply once its data was
// sent, and its pushes hung lately (hungLately): nothing is handed to
// it on a session of this server's. Its watch session to this server
// (XQUERYDISCARD WAIT=, over real SMTP) is open, and the commit naming
// hub-c as the holder wakes it with the discard. The pass (as the
// receipt before its 250) returns only once hub-b acknowledged that
// discard — its next command, sent after it saved the batch (300 ms
// here): returning at once left the 250 to go out first, and this
// server killed right after it left hub-b's copy and hub-c's both to
// be taken over and delivered.
func TestSR17WatchingServerFetchesItsDiscardBeforeThePassReturns(t *testing.T) {
	defer func(d time.Duration) { receiptDiscardPush = d }(receiptDiscardPush)
	receiptDiscardPush = 4 * time.Second
	bHub := testsupport.StartHub(t, testsupport.AddrInRange(t, watchFetchIP, 6400, 100), testsupport.HubScript{
		Fault: testsupport.FaultDotEOF, EHLO: []string{"XSHADOW 13", "8BITMIME"}})
	cHub := testsupport.StartHub(t, testsupport.AddrInRange(t, watchFetchIP, 6500, 100), testsupport.HubScript{DataReply: "250 2.0.0 kept"})
	_, q := openQueue(t, clock.NewFake(time.Now()))
	addr := startTransportServer(t, "hub-a", "hub-a.test", "hub-a.yaml", q, q)
	d, r := hubAReceiptRig(t, addr,
		routing.Server{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: bHub.Addr()},
		routing.Server{Name: "hub-c", Role: routing.RoleHub, Site: "b", Address: cHub.Addr()})
	m := &queue.Message{OrgID: strings.Repeat("0", 31) + "d", From: "a@example.org",
		Rcpts: []queue.Recipient{{Addr: "b@example.net"}}}
	if err := q.Submit(context.Background(), m, []byte("Subject: x\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := q.MarkSingleCopy(m.ID, "hub-x", ""); err != nil {
		t.Fatal(err)
	}
	d.health.Unresponsive(time.Now(), "failed heartbeat", "hub-c", cHub.Addr()) // hub-b first
	r.hungAt.Store(mailaddr.NameKey("hub-b"), r.clock())                        // its pushes hung lately

	acked, closeWatch := watchingServer(t, q, addr, "hub-b")

	start := time.Now()
	srv, err := r.Recopy(context.Background(), q, m.ID, nil)
	took := time.Since(start)
	if srv != "hub-c" || err != nil {
		t.Fatalf("made again on %q (%v); want hub-c after hub-b's push got no reply", srv, err)
	}
	if bHub.Faults.Load() == 0 {
		t.Fatal("hub-b's fault never struck: the test proves nothing")
	}
	if !acked.Load() {
		t.Error("the pass returned before hub-b's watch session acknowledged the discard owed to it: a kill of this server now leaves hub-b's copy to be taken over beside hub-c's")
	}
	// Ended by that acknowledgement, not by its share of the bound (2 s
	// here): a pass that sat the share out would see acked set as well
	// (rdwatch45), and would hold every receipt to it.
	if took >= receiptDiscardPush/2-500*time.Millisecond {
		t.Errorf("the pass took %v: it ended on its share of the bound (%v), not on hub-b's acknowledgement (300 ms)", took, receiptDiscardPush/2)
	}
	closeWatch()
	// The server reads the close once the poll held then ends (its
	// WAIT=, 5 s): the session's end forgets the watch.
	for deadline := time.Now().Add(15 * time.Second); q.Watched("hub-b"); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("hub-b's watch session closed, yet it is still counted as watching: every receipt would wait for it")
		}
	}
}

// watchingServer opens server's watch session to the transport server
// at addr (queue q): it long polls, and saves a batch holding a
// discard for 300 ms before its next poll acknowledges it (acked set
// just before that poll). closeWatch closes the session and waits for
// its poller.
func watchingServer(t *testing.T, q *queue.Manager, addr, server string) (acked *atomic.Bool, closeWatch func()) {
	t.Helper()
	c, err := smtp.NewClient(context.Background(), dialT(t, addr), smtp.ClientOptions{LocalName: server + ".test", TLS: smtp.TLSNone, CommandTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Shadow(server); err != nil {
		t.Fatal(err)
	}
	acked = &atomic.Bool{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 20; i++ {
			ids, err := c.WaitDiscard(1000, 5*time.Second)
			if err != nil {
				return
			}
			if len(ids) > 0 {
				time.Sleep(300 * time.Millisecond) // the batch saved
				acked.Store(true)                  // the next poll acknowledges it
			}
			if acked.Load() && len(ids) == 0 {
				return
			}
		}
	}()
	for deadline := time.Now().Add(5 * time.Second); !q.Watched(server); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s's long poll never registered its watch session", server)
		}
	}
	return acked, func() { c.Close(); <-done }
}

// SR-17 (rdwatch45): a message that left this server — delivered, or
// handed on — while its copy on receipt was pushed to hub-b with no
// reply once the copy was sent: the commit that ended it owes hub-b the
// copy's discard, and the record is gone. HandLeftDiscards, called by
// the receive session before its 250, finds the discard by the org id
// and waits for hub-b's watch session to fetch it (hub-b hung lately:
// no push is tried). Left for hub-b's next contact, this server killed
// right after the 250 left hub-b free to take its copy over and
// deliver the message a second time.
func TestSR17LeftMessageDiscardFetchedByOrgIDBeforeThe250(t *testing.T) {
	defer func(d time.Duration) { receiptDiscardPush = d }(receiptDiscardPush)
	receiptDiscardPush = 4 * time.Second
	st, q := openQueue(t, clock.NewFake(time.Now()))
	addr := startTransportServer(t, "hub-a", "hub-a.test", "hub-a.yaml", q, q)
	_, r := hubAReceiptRig(t, addr,
		routing.Server{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: testsupport.AddrInRange(t, watchFetchIP, 6400, 200)})
	r.WithHolders(q)
	r.hungAt.Store(mailaddr.NameKey("hub-b"), r.clock()) // its pushes hung lately: only its watch session fetches
	acked, closeWatch := watchingServer(t, q, addr, "hub-b")
	defer closeWatch()

	org := strings.Repeat("0", 31) + "e"
	if err := st.Update(context.Background(), func(tx *queue.Tx) error { return tx.AddDiscard("hub-b", org, time.Now()) }); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r.HandLeftDiscards(context.Background(), 0, org, []string{"hub-b"})
	took := time.Since(start)
	if !acked.Load() {
		t.Error("HandLeftDiscards returned before hub-b's watch session acknowledged the discard owed to it: the 250 goes out with hub-b free to take its copy over")
	}
	if took >= receiptDiscardPush/2-500*time.Millisecond {
		t.Errorf("HandLeftDiscards took %v: it ended on its share of the bound, not on hub-b's acknowledgement", took)
	}
	if q.OrgDiscardOwed(org, "hub-b") {
		t.Error("the discard is still owed to hub-b after its acknowledgement")
	}
}

// hubAReceiptRig is the receipt shadow of hub-a (site a, at addr) in a
// topology of it and others (site b): its deliverer and ReceiptShadow,
// both closed when the test ends.
func hubAReceiptRig(t *testing.T, addr string, others ...routing.Server) (*Deliverer, *ReceiptShadow) {
	t.Helper()
	servers := append([]routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: addr}}, others...)
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites:   []routing.Site{{Name: "a"}, {Name: "b"}},
		Links:   []routing.SiteLink{{Name: "a-b", Sites: []string{"a", "b"}, Cost: 1}},
		Servers: servers,
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
	return d, r
}
