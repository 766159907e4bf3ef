package delivery

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/routing"
	"umbra/internal/smtp"
	"umbra/internal/testsupport"
)

// owed44IP is the loopback address of the owed44 tests (ports
// 6000-6999).
const owed44IP = "127.0.0.185"

// startWatchedPrimary serves q's shadow verbs over real SMTP at
// owed44IP (the transport connector trusts loopback as externally
// secured), its long polls timed by clk: a WAIT= runs out only when the
// test advances clk. It returns the address.
func startWatchedPrimary(t *testing.T, q *queue.Manager, clk clock.Clock) string {
	t.Helper()
	addr := testsupport.AddrInRange(t, owed44IP, 6000, 300)
	cfg, err := config.Parse([]byte(`server: {name: hub-a}
receive_connectors:
  - name: transport
    bindings: ["`+addr+`"]
    remote_ranges: ["127.0.0.0/8"]
    externally_secured: true
    permissions: {anonymous: [submit, relay, accept-xshadow]}
`), "primary.yaml")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := smtp.NewServer(smtp.ServerConfig{Hostname: "hub-a.test", Connectors: cfg.ReceiveConnectors,
		Queue: q, Shadow: q, ShadowEnabled: true, Clock: clk})
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

// longPoll opens server's watch session to the primary at addr and sends
// one XQUERYDISCARD WAIT=60 on it, once the primary holds nothing for
// server; it returns where the answer comes, after the primary's session
// waits on clk.
type pollAnswer struct {
	ids []string
	err error
}

func longPoll(t *testing.T, addr, server string, clk *clock.Fake) chan pollAnswer {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c, err := smtp.NewClient(context.Background(), nc, smtp.ClientOptions{LocalName: server + ".test", TLS: smtp.TLSNone})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Shadow(server); err != nil || c.ShadowVersion < 2 {
		t.Fatalf("watch session of %s: version %d, %v", server, c.ShadowVersion, err)
	}
	before := clk.Pending()
	ch := make(chan pollAnswer, 1)
	go func() { ids, err := c.WaitDiscard(10, 60*time.Second); ch <- pollAnswer{ids, err} }()
	for i := 0; clk.Pending() <= before; i++ {
		if i == 2000 {
			t.Fatal("the primary never held the long poll: the test proves nothing")
		}
		select {
		case r := <-ch:
			t.Fatalf("the long poll was answered before anything was owed: %+v", r)
		default:
		}
		time.Sleep(5 * time.Millisecond)
	}
	return ch
}

// awaitPoll returns the long poll's answer; the WAIT= is never run out
// (clk is not advanced), so an answer at all is the wake.
func awaitPoll(t *testing.T, ch chan pollAnswer, what string) pollAnswer {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: the waiting long poll was not woken (it would have got it only at its next poll)", what)
	}
	return pollAnswer{}
}

// SR-17 (rt44 shadowrcpt3 F1): the discard owed to a server whose push
// of a copy on receipt was given up unconfirmed (hung after the copy's
// whole write: it may store it) is answered at once on that server's
// watch session, its long poll waiting as it commits — README "Shadow
// on receipt": fetched "at once over the watch session open to H while
// the copy is held". The hand-over before the 250 passes the server
// over (its push hung lately), so the long poll is the only way it gets
// it before this server may be lost; left to the poll's next round,
// a kill -9 of the primary in between had both shadow servers take the
// message over and deliver it. hub-b hangs at the reply to MAIL; the
// copy is made again on hub-c.
func TestSR17OwedDiscardWakesTheWaitingLongPoll(t *testing.T) {
	defer func(d time.Duration) { receiptTry = d }(receiptTry)
	receiptTry = 300 * time.Millisecond
	bHub := testsupport.StartHub(t, testsupport.AddrInRange(t, owed44IP, 6300, 300), testsupport.HubScript{HangAtMail: true,
		EHLO: []string{"XSHADOW 5", "8BITMIME", "PIPELINING", "CHUNKING"}})
	cHub := testsupport.StartHub(t, testsupport.AddrInRange(t, owed44IP, 6600, 300), testsupport.HubScript{DataReply: "250 2.0.0 kept"})
	_, q := openQueue(t, clock.NewFake(time.Now()))
	pollClk := clock.NewFake(time.Now())
	primary := startWatchedPrimary(t, q, pollClk)
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites: []routing.Site{{Name: "a"}, {Name: "b"}},
		Links: []routing.SiteLink{{Name: "a-b", Sites: []string{"a", "b"}, Cost: 1}},
		Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: primary},
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
	r := NewReceiptShadow(d, "db-a").WithHolders(q)
	t.Cleanup(r.Close)
	m := &queue.Message{OrgID: strings.Repeat("0", 31) + "d", From: "a@example.org",
		Rcpts: []queue.Recipient{{Addr: "b@example.net"}}}
	if err := q.Submit(context.Background(), m, []byte("Subject: x\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := q.MarkSingleCopy(m.ID, "hub-x", ""); err != nil {
		t.Fatal(err)
	}
	d.health.Unresponsive(time.Now(), "failed heartbeat", "hub-c", cHub.Addr()) // hub-b first
	poll := longPoll(t, primary, "hub-b", pollClk)
	srv, err := r.RecopyRefused(context.Background(), m.ID, "", nil)
	if srv != "hub-c" || err != nil {
		t.Fatalf("made again on %q (%v); want hub-c after hub-b hung", srv, err)
	}
	if bHub.Mails.Load() == 0 {
		t.Fatal("hub-b got no push: the test proves nothing")
	}
	got := awaitPoll(t, poll, "the discard owed to hub-b for its unconfirmed push")
	if got.err != nil || strings.Join(got.ids, ",") != m.OrgID {
		t.Fatalf("hub-b's long poll: %+v; want the discard of %s", got, m.OrgID)
	}
}
