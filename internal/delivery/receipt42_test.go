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

// receipt42IP is the loopback address of the receipt42 tests (ports
// 8000-8999). The tests of the retry budget's other rules are in
// recopybudget_test.go.
const receipt42IP = "127.0.0.131"

// SR-17 (receipt42 item 3): the former holder of a copy made again is a
// try of its kind's retry budget like any candidate. hub-a's copy of a
// message was on hub-b and failed there (the mark names it); the budget
// of the other sites' servers is one try. The pass tries hub-c (hub-b
// is marked: it failed), which is down — the budget is spent. hub-b,
// the former holder, was then tried too, one try over the budget.
func TestSR17FormerHolderCountsAgainstTheBudget(t *testing.T) {
	bHub := testsupport.StartHub(t, testsupport.AddrInRange(t, receipt42IP, 8000, 500), testsupport.HubScript{DataReply: "250 2.0.0 kept"})
	down := testsupport.AddrInRange(t, receipt42IP, 8500, 500) // nothing listens: connection refused
	_, q := openQueue(t, clock.NewFake(time.Now()))
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites: []routing.Site{{Name: "a"}, {Name: "b"}},
		Links: []routing.SiteLink{{Name: "a-b", Sites: []string{"a", "b"}, Cost: 1}},
		Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: receipt42IP + ":25"},
			{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: bHub.Addr()},
			{Name: "hub-c", Role: routing.RoleHub, Site: "b", Address: down}},
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{Hostname: "hub-a.test", Routing: routing.NewTable(nil, nil), Resolver: &fakeDNS{},
		Topology: topo, LocalServer: "hub-a", ShadowServerID: "hub-a", ShadowRetriesRemote: 1, ShadowRetriesLocal: 0,
		CommandTimeout: time.Hour, DataTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	r := NewReceiptShadow(d, "db-a")
	t.Cleanup(r.Close)
	m := &queue.Message{OrgID: strings.Repeat("0", 31) + "9", From: "a@example.org",
		Rcpts: []queue.Recipient{{Addr: "b@example.net"}}}
	if err := q.Submit(context.Background(), m, []byte("Subject: x\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := q.MarkSingleCopy(m.ID, "hub-b", ""); err != nil {
		t.Fatal(err)
	}
	d.health.Unresponsive(time.Now(), "shadow copy on receipt: push failed", "hub-b", bHub.Addr())
	srv, err := r.Recopy(context.Background(), q, m.ID, nil)
	if srv != "" || err == nil {
		t.Errorf("made again on %q (%v); want no copy: the one try of the budget went to hub-c", srv, err)
	}
	if n := bHub.Count(); n != 0 {
		t.Errorf("hub-b, the former holder, got %d sessions past the budget of one try", n)
	}
}

// SR-17 (receipt42 item 2, the made-again pass): a push to a candidate
// that answered it — a 421 at MAIL, at DATA or to the data's end, or a
// refusal — left nothing there, so the candidate is not kept as one
// that may hold the copy: once hub-c keeps it, hub-b is owed no discard
// and no view names it as an unconfirmed push. A push that got no reply
// after the data (an EOF) may have left the copy: hub-b is owed its
// discard. Every failed push was kept as one that may hold it.
func TestSR17AnsweredPushMadeAgainHoldsNothing(t *testing.T) {
	for _, c := range []struct {
		fault, reply string
		mayHold      bool
	}{
		{testsupport.FaultMail421, "", false},
		{testsupport.FaultData421, "", false},
		{testsupport.FaultDot421, "", false},
		{"", "452 4.3.1 Insufficient system storage", false},
		{testsupport.FaultDotEOF, "", true},
	} {
		t.Run(c.fault+c.reply[:min(3, len(c.reply))], func(t *testing.T) {
			bHub := testsupport.StartHub(t, testsupport.AddrInRange(t, receipt42IP, 8000, 500), testsupport.HubScript{Fault: c.fault, DataReply: c.reply})
			cHub := testsupport.StartHub(t, testsupport.AddrInRange(t, receipt42IP, 8500, 500), testsupport.HubScript{DataReply: "250 2.0.0 kept"})
			_, q := openQueue(t, clock.NewFake(time.Now()))
			topo, err := routing.NewTopology(routing.TopologyInput{
				Sites: []routing.Site{{Name: "a"}, {Name: "b"}},
				Links: []routing.SiteLink{{Name: "a-b", Sites: []string{"a", "b"}, Cost: 1}},
				Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: receipt42IP + ":25"},
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
			m := &queue.Message{OrgID: strings.Repeat("0", 31) + "a", From: "a@example.org",
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
			srv, err := r.Recopy(context.Background(), q, m.ID, nil)
			if srv != "hub-c" || err != nil {
				t.Fatalf("made again on %q (%v); want hub-c after hub-b failed", srv, err)
			}
			if bHub.Count() == 0 {
				t.Fatal("hub-b had no session: the test proves nothing")
			}
			var owed bool
			for _, u := range q.UnconfirmedPushes(m.ID) {
				if u.Server == "hub-b" {
					owed = true
				}
			}
			if owed != c.mayHold {
				t.Errorf("unconfirmed pushes %+v: hub-b among them %v, want %v", q.UnconfirmedPushes(m.ID), owed, c.mayHold)
			}
		})
	}
}
