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

// rrreceipt42IP is the loopback address of the rrreceipt42 tests (ports
// 10000-10999).
const rrreceipt42IP = "127.0.0.140"

// SR-17 (rrreceipt42 item 3): the discards handed before the sender's
// 250 (handMayHoldDiscards) do not go to a server whose push of the
// copy just ran out of its bound (hung: a stopped process, a stalled
// disk) — a hand-over to it would wait its whole 2 s for nothing, on
// every receipt whose push it hung, the sender's 250 behind it. Its
// discard stays owed: it fetches it at its next contact, the documented
// fallback. hub-b hangs at MAIL; the copy is made again on hub-c. hub-b
// gets the push's session, and no second one for the discard.
func TestSR17NoDiscardHandOverToTheServerWhosePushHung(t *testing.T) {
	defer func(d time.Duration) { receiptTry = d }(receiptTry)
	receiptTry = 300 * time.Millisecond
	// The copy goes in one trip, its data in the envelope's write: the
	// hung hub may have read it (one sent in pieces, hung at MAIL, never
	// reached it and is owed nothing: rcpt43 item 2).
	bHub := testsupport.StartHub(t, testsupport.AddrInRange(t, rrreceipt42IP, 10200, 300), testsupport.HubScript{HangAtMail: true,
		EHLO: []string{"XSHADOW 5", "8BITMIME", "PIPELINING", "CHUNKING"}})
	cHub := testsupport.StartHub(t, testsupport.AddrInRange(t, rrreceipt42IP, 10500, 300), testsupport.HubScript{DataReply: "250 2.0.0 kept"})
	_, q := openQueue(t, clock.NewFake(time.Now()))
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites: []routing.Site{{Name: "a"}, {Name: "b"}},
		Links: []routing.SiteLink{{Name: "a-b", Sites: []string{"a", "b"}, Cost: 1}},
		Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: rrreceipt42IP + ":25"},
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
	m := &queue.Message{OrgID: strings.Repeat("0", 31) + "b", From: "a@example.org",
		Rcpts: []queue.Recipient{{Addr: "b@example.net"}}}
	if err := q.Submit(context.Background(), m, []byte("Subject: x\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	// Its copy lost on hub-x (no server of the topology); hub-c is
	// marked, so hub-b is tried first.
	if err := q.MarkSingleCopy(m.ID, "hub-x", ""); err != nil {
		t.Fatal(err)
	}
	d.health.Unresponsive(time.Now(), "failed heartbeat", "hub-c", cHub.Addr())
	srv, err := r.RecopyRefused(context.Background(), m.ID, "", nil)
	if srv != "hub-c" || err != nil {
		t.Fatalf("made again on %q (%v); want hub-c after hub-b hung", srv, err)
	}
	if bHub.Mails.Load() == 0 {
		t.Fatal("hub-b got no push: the test proves nothing")
	}
	owed := false
	for _, u := range q.UnconfirmedPushes(m.ID) {
		if u.Server == "hub-b" && u.DiscardOwed {
			owed = true
		}
	}
	if !owed {
		t.Fatalf("unconfirmed pushes %+v: hub-b's discard not owed (it may hold the copy: its push hung)", q.UnconfirmedPushes(m.ID))
	}
	if n := bHub.Count(); n != 1 {
		t.Errorf("hub-b got %d sessions; want 1 (the push): the discard hand-over went to the server whose push had just hung", n)
	}
}
