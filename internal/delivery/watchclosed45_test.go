package delivery

import (
	"context"
	"fmt"
	"slices"
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
// 13000-13499).
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
	bHub := testsupport.StartHub(t, testsupport.AddrInRange(t, watchClosedIP, 13000, 100), testsupport.HubScript{
		Fault: testsupport.FaultDotEOF, EHLO: []string{"XSHADOW 13", "8BITMIME"}})
	cHub := testsupport.StartHub(t, testsupport.AddrInRange(t, watchClosedIP, 13100, 100), testsupport.HubScript{DataReply: "250 2.0.0 kept"})
	_, q := openQueue(t, clock.NewFake(time.Now()))
	addr := startTransportServerAt(t, "hub-a", "hub-a.test", "hub-a.yaml", testsupport.AddrInRange(t, watchClosedIP, 13200, 100), q, q)
	d, r := hubAReceiptRig(t, addr,
		routing.Server{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: bHub.Addr()},
		routing.Server{Name: "hub-c", Role: routing.RoleHub, Site: "b", Address: cHub.Addr()})
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

// SR-17, rdwatch45 (rrreceipt42's sibling): hub-b's pushes hung lately,
// and so does its watch session: it took the batch carrying the first
// message's discard and never spoke again (its disk stalled in the
// save). The first pass waits its share of the bound for that
// acknowledgement, in vain. A second pass owing hub-b a discard while
// that session is still silent must not wait the share again: nothing
// was acknowledged since the first wait ran out, so none will be now,
// and each receipt (each message of a made-again pass, one after the
// other, up to 500 a pass) was held that long for nothing — the hang on
// every receipt that hungLately was made to spare.
func TestSR17SilentWatchSessionIsNotWaitedForAgain(t *testing.T) {
	defer func(d time.Duration) { receiptDiscardPush = d }(receiptDiscardPush)
	receiptDiscardPush = 4 * time.Second
	bHub := testsupport.StartHub(t, testsupport.AddrInRange(t, watchClosedIP, 13300, 100), testsupport.HubScript{
		Fault: testsupport.FaultDotEOF, EHLO: []string{"XSHADOW 13", "8BITMIME"}})
	cHub := testsupport.StartHub(t, testsupport.AddrInRange(t, watchClosedIP, 13400, 100), testsupport.HubScript{DataReply: "250 2.0.0 kept"})
	_, q := openQueue(t, clock.NewFake(time.Now()))
	addr := startTransportServerAt(t, "hub-a", "hub-a.test", "hub-a.yaml", testsupport.AddrInRange(t, watchClosedIP, 13200, 100), q, q)
	d, r := hubAReceiptRig(t, addr,
		routing.Server{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: bHub.Addr()},
		routing.Server{Name: "hub-c", Role: routing.RoleHub, Site: "b", Address: cHub.Addr()})
	var ms []*queue.Message
	for _, org := range []string{"a", "b"} {
		m := &queue.Message{ID: q.NewID(), OrgID: strings.Repeat("0", 31) + org, From: "a@example.org",
			Rcpts: []queue.Recipient{{Addr: org + "@example.net"}}}
		if err := q.Submit(context.Background(), m, []byte("Subject: "+org+"\r\n\r\nhi\r\n")); err != nil {
			t.Fatal(err)
		}
		if err := q.MarkSingleCopy(m.ID, "hub-x", ""); err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	if ms[0].ID == ms[1].ID {
		t.Fatal("the two messages were stored as one: the test proves nothing")
	}
	d.health.Unresponsive(time.Now(), "failed heartbeat", "hub-c", cHub.Addr()) // hub-b first
	r.hungAt.Store(mailaddr.NameKey("hub-b"), r.clock())                        // its pushes hung lately

	// hub-b's watch session: one long poll, answered with the first
	// discard; then silent, its connection open.
	c, err := smtp.NewClient(context.Background(), dialT(t, addr), smtp.ClientOptions{LocalName: "hub-b.test", TLS: smtp.TLSNone, CommandTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Shadow("hub-b"); err != nil {
		t.Fatal(err)
	}
	got := make(chan []string, 1)
	go func() {
		ids, _ := c.WaitDiscard(1000, 30*time.Second)
		got <- ids
	}()
	for deadline := time.Now().Add(5 * time.Second); !q.Watched("hub-b"); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("hub-b's long poll never registered its watch session")
		}
	}

	start := time.Now()
	if srv, err := r.Recopy(context.Background(), q, ms[0].ID, nil); srv != "hub-c" || err != nil {
		t.Fatalf("first made again on %q (%v); want hub-c", srv, err)
	}
	first := time.Since(start)
	if ids := <-got; len(ids) == 0 {
		t.Fatal("hub-b's long poll was not answered with the first discard: the test proves nothing")
	}
	if first < receiptDiscardPush/2-100*time.Millisecond {
		t.Fatalf("the first pass took %v: it did not wait for hub-b's watch session (the test proves nothing)", first)
	}
	if !q.Watched("hub-b") {
		t.Fatal("hub-b's silent watch session no longer counts as watching: the test proves nothing")
	}

	// The second message's push to hub-b went unanswered too (an
	// earlier pass's): hub-b may hold its copy.
	if _, named, err := q.RecopyPushingNamed(ms[1].ID, "hub-b"); err != nil || !named {
		t.Fatalf("marking hub-b as one that may hold the second copy: %v, %v", named, err)
	}
	start = time.Now()
	if srv, err := r.Recopy(context.Background(), q, ms[1].ID, nil); srv != "hub-c" || err != nil {
		t.Fatalf("second made again on %q (%v); want hub-c", srv, err)
	}
	if second := time.Since(start); second >= receiptDiscardPush/4 {
		t.Errorf("the second pass took %v: it waited again for a watch session silent since its last wait ran out", second)
	}
	// Its next command acknowledges the batch: waited for again.
	go c.WaitDiscard(1000, time.Second)
	for deadline := time.Now().Add(5 * time.Second); r.watchSilent(q, "hub-b"); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("hub-b's watch session acknowledged its batch, yet it is still taken for a silent one")
		}
	}
	if !slices.ContainsFunc(q.UnconfirmedPushes(ms[1].ID), func(u queue.UnconfirmedPush) bool { return u.Server == "hub-b" && u.DiscardOwed }) {
		t.Fatalf("hub-b is owed no discard of the second copy (%v): the test proves nothing", q.UnconfirmedPushes(ms[1].ID))
	}
}
