package delivery

import (
	"context"
	"testing"
	"time"

	"umbra/internal/queue"
	"umbra/internal/routing"
)

// plainRelayToHubB is hub-a's deliverer (shadow server id hub-a, its shadow
// copies recorded by a refusingRecorder), closed when the test ends, in
// a topology of site a (hub-a, hub-x) and site b (hub-b, and mbx-b
// holding b.test's database). hub-b is a scripted next hop that answers
// EHLO with ehlo, XSHADOW with xshadowReply and everything else 250.
func plainRelayToHubB(t *testing.T, ehlo, xshadowReply string) *Deliverer {
	t.Helper()
	addr := scriptedPeer(t, ehlo, func(cmd string) string {
		switch {
		case len(cmd) >= 7 && cmd[:7] == "XSHADOW":
			return xshadowReply + "\r\n"
		case len(cmd) >= 4 && cmd[:4] == "QUIT":
			return "221 bye\r\n"
		}
		return "250 ok\r\n"
	})
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites: []routing.Site{{Name: "a"}, {Name: "b"}},
		Links: []routing.SiteLink{{Name: "a-b", Sites: []string{"a", "b"}, Cost: 1}},
		Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.1:1"},
			{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: addr},
			{Name: "hub-x", Role: routing.RoleHub, Site: "a", Address: "127.0.0.1:2"},
			{Name: "mbx-b", Role: routing.RoleMailbox, Site: "b", Address: "127.0.0.3:1"}},
		Databases:  []routing.Database{{Name: "db-b", Server: "mbx-b"}},
		Recipients: []routing.RecipientMap{{Match: "b.test", Database: "db-b"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	table := routing.NewTable([]routing.AcceptedDomain{{Domain: "b.test", Type: routing.Authoritative}}, nil)
	d, err := New(Config{Hostname: "hub-a", Routing: table, Topology: topo, LocalServer: "hub-a",
		ConnectTimeout: 2 * time.Second, CommandTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	d.st.Load().cfg.ShadowServerID = "hub-a"
	d.st.Load().cfg.Shadows = &refusingRecorder{}
	return d
}

// SR-6: a taken-over copy relayed plainly to a transport
// server that refused the shadow session (shadow redundancy off there)
// names the server in its results (Result.RelayedTo), so the returning
// primary is told (TakenRelayed) and does not deliver its original too.
// The session is pooled (finishConn) and the next taken-over copy to the
// same server goes on it (reuse): no XSHADOW asked, no plain mark, no
// RelayedTo — its primary is never told, and delivers its original a
// second time.
func TestSR6PooledPlainRelayOfTakenOverCopyNamesServer(t *testing.T) {
	reply := "502 5.5.1 XSHADOW not available"
	d := plainRelayToHubB(t, "250-hub-b.test\r\n250 PIPELINING\r\n", reply)
	for i := 0; i < 2; i++ {
		m := message("u@b.test")
		m.ID = queue.ID(0xBEEF + i)
		m.Rcpts[0].Primary, m.Rcpts[0].ShadowID = "hub-x", "sid-"+string(rune('a'+i)) // taken over from hub-x
		if !queue.TakenOverIn(m, all(m)) {
			t.Fatal("the test's message carries no taken-over copy")
		}
		res := d.Deliver(context.Background(), m, body, all(m))
		if res[0].Outcome != queue.RelayedOK {
			t.Fatalf("taken-over copy %d: %+v; want relayed plainly", i, res)
		}
		if res[0].RelayedTo != "hub-b" {
			t.Errorf("taken-over copy %d relayed plainly to hub-b: RelayedTo %q, want hub-b (its primary hub-x is never told: a duplicate)", i, res[0].RelayedTo)
		}
	}
}

// The same pool carries a taken-over copy to a server that refused this
// server's database as another server's (rt27a F1: never such a copy
// without a shadow session there): an ordinary message relayed plainly
// first leaves the session pooled, and the copy goes on it unchecked.
func TestSR6PooledPlainSessionCarriesTakenOverCopyToDisowningServer(t *testing.T) {
	reply := "550 5.7.1 Database id db-a is another server's here; nothing changed"
	d := plainRelayToHubB(t, "250-hub-b.test\r\n250-XSHADOW 20\r\n250 PIPELINING\r\n", reply)
	m := message("u@b.test")
	if res := d.Deliver(context.Background(), m, body, all(m)); res[0].Outcome != queue.RelayedOK {
		t.Fatalf("an ordinary message: %+v; want relayed plainly", res)
	}
	m = message("u@b.test")
	m.ID = 0xBEF0
	m.Rcpts[0].Primary, m.Rcpts[0].ShadowID = "hub-x", "sid-x"
	res := d.Deliver(context.Background(), m, body, all(m))
	if res[0].Outcome == queue.RelayedOK {
		t.Errorf("a taken-over copy went to hub-b, which takes this server's database for another server's, on the session pooled by a plain relay: %+v; want it held back (451 4.7.0)", res[0])
	}
}
