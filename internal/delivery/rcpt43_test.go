package delivery

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/routing"
	"umbra/internal/testsupport"
)

// rcpt43IP is the loopback address of the rcpt43 tests (ports
// 8000-8199).
const rcpt43IP = "127.0.0.150"

// SR-17 (rcpt43 item 2, the made-again pass): a push whose session was
// lost before any byte of the copy's data could reach the server — an
// EOF or a reset at MAIL, at RCPT, or at DATA before its 354 — left
// nothing there: the server is no server that may hold the copy, owed
// no discard once hub-c keeps it. One whose data went in the same write
// as its envelope (BDAT … LAST pushed in one trip, version 5) may have
// left it, wherever the session was lost: the safe side, as is every
// cut after the data.
func TestSR17CutBeforeTheDataHoldsNothing(t *testing.T) {
	pipelined := []string{"XSHADOW 3", "8BITMIME", "PIPELINING"}
	oneTrip := []string{"XSHADOW 5", "8BITMIME", "PIPELINING", "CHUNKING"}
	for _, c := range []struct {
		name, fault string
		ehlo        []string
		mayHold     bool
	}{
		{"mail-eof", testsupport.FaultMailEOF, nil, false},
		{"mail-reset", testsupport.FaultMailReset, nil, false},
		{"rcpt-eof", testsupport.FaultRcptEOF, nil, false},
		{"data-reset", testsupport.FaultDataReset, nil, false},
		{"pipelined-mail-reset", testsupport.FaultMailReset, pipelined, false},
		{"pipelined-data-reset", testsupport.FaultDataReset, pipelined, false},
		{"onetrip-mail-reset", testsupport.FaultMailReset, oneTrip, true},
		// A batch (version 6) refused whole, by its reply: nothing of
		// it kept; its copy alone on the second session is answered too.
		{"batch-mail-421", testsupport.FaultMail421, []string{"XSHADOW 6", "8BITMIME", "PIPELINING", "CHUNKING"}, false},
		{"dot-eof", testsupport.FaultDotEOF, nil, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			bHub := testsupport.StartHub(t, testsupport.AddrInRange(t, rcpt43IP, 8000, 100), testsupport.HubScript{Fault: c.fault, EHLO: c.ehlo})
			cHub := testsupport.StartHub(t, testsupport.AddrInRange(t, rcpt43IP, 8100, 100), testsupport.HubScript{DataReply: "250 2.0.0 kept"})
			_, q := openQueue(t, clock.NewFake(time.Now()))
			topo, err := routing.NewTopology(routing.TopologyInput{
				Sites: []routing.Site{{Name: "a"}, {Name: "b"}},
				Links: []routing.SiteLink{{Name: "a-b", Sites: []string{"a", "b"}, Cost: 1}},
				Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: rcpt43IP + ":25"},
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
			srv, err := r.Recopy(context.Background(), q, m.ID, nil)
			if srv != "hub-c" || err != nil {
				t.Fatalf("made again on %q (%v); want hub-c after hub-b failed", srv, err)
			}
			if bHub.Faults.Load() == 0 {
				t.Fatalf("hub-b's fault never struck (%d sessions): the test proves nothing", bHub.Count())
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

// rcpt43Shadow is hub-a's copier of copies on receipt with the servers
// given in site b (hub-a alone in site a), prefer-remote trying up to
// four.
func rcpt43Shadow(t *testing.T, servers ...routing.Server) *ReceiptShadow {
	t.Helper()
	in := routing.TopologyInput{
		Sites:   []routing.Site{{Name: "a"}, {Name: "b"}},
		Links:   []routing.SiteLink{{Name: "a-b", Sites: []string{"a", "b"}, Cost: 1}},
		Servers: append([]routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: rcpt43IP + ":25"}}, servers...),
	}
	topo, err := routing.NewTopology(in)
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
	return NewReceiptShadow(d, "db-a")
}

// SR-17 (rcpt43 item 5): a session a push in progress at the stop gives
// back to the pool after the pool was closed (ReceiptShadow.Close) is
// ended with its QUIT, not kept in a pool nobody closes any more.
func TestSR17SessionPooledAfterCloseGetsItsQuit(t *testing.T) {
	hub := testsupport.StartHub(t, testsupport.AddrInRange(t, rcpt43IP, 8000, 200), testsupport.HubScript{})
	r := rcpt43Shadow(t, routing.Server{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: hub.Addr()})
	link, err := r.Open(context.Background(), config.ShadowOnReceiptPreferRemote)
	if err != nil {
		t.Fatal(err)
	}
	r.Close() // the stop, while the push is under way
	link.Done(true)
	deadline := time.Now().Add(20 * time.Second)
	for hub.Quits.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the session given back to the closed pool got no QUIT")
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.Close() // a second close ends nothing twice
}

// SR-17 (rcpt43 item 5): a session dial ends at once — its server keeps
// no copies (XSHADOW below 3), or is judged a copied data dir — ends
// with its QUIT off the receive session's path: four such servers whose
// QUIT is never answered cost the sender no QUIT's 2 s each (8 s).
func TestSR17DialQuitOffTheReceiptPath(t *testing.T) {
	var servers []routing.Server
	for i, n := range []string{"hub-b", "hub-c", "hub-d", "hub-e"} {
		h := testsupport.StartHub(t, testsupport.AddrInRange(t, rcpt43IP, 8000+50*i, 50), testsupport.HubScript{EHLO: []string{"XSHADOW 2", "8BITMIME"}, HangAtQuit: true})
		servers = append(servers, routing.Server{Name: n, Role: routing.RoleHub, Site: "b", Address: h.Addr()})
	}
	r := rcpt43Shadow(t, servers...)
	t.Cleanup(r.Close)
	within(t, "Open over four servers that keep no copies", 5*time.Second, func() {
		if _, err := r.Open(context.Background(), config.ShadowOnReceiptPreferRemote); !errors.Is(err, ErrNoShadowServer) {
			t.Errorf("Open: %v; want no shadow server", err)
		}
	})
}
