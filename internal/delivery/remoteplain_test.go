package delivery

import (
	"context"
	"net"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/routing"
)

// SR-6: a send_xshadow connector whose smart hosts are
// two transport servers of the topology (hub-b, hub-c). hub-b runs with
// shadow redundancy off and refuses the shadow session: since shfix27 a
// taken-over copy is relayed to it plainly (before: held back). The
// org relay names the server (org.go: plain), but deliverRemote drops
// openShadow's plain result and relies on relayServer, which names no
// server for a connector of two: RelayedTo stays "", the returning
// primary gets no note, and delivers its original too.
func TestSR6RemotePlainRelayOfTakenOverCopyNamesServer(t *testing.T) {
	addr := scriptedPeer(t, "250-hub-b.test\r\n250 PIPELINING\r\n", func(cmd string) string {
		switch {
		case len(cmd) >= 7 && cmd[:7] == "XSHADOW":
			return "502 5.5.1 XSHADOW not available\r\n"
		case len(cmd) >= 4 && cmd[:4] == "QUIT":
			return "221 bye\r\n"
		}
		return "250 ok\r\n"
	})
	_, port, _ := net.SplitHostPort(addr)
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites: []routing.Site{{Name: "a"}},
		Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.7:25"},
			{Name: "hub-b", Role: routing.RoleHub, Site: "a", Address: "hub-b:" + port},
			{Name: "hub-c", Role: routing.RoleHub, Site: "a", Address: "hub-c:" + port},
			{Name: "hub-x", Role: routing.RoleHub, Site: "a", Address: "127.0.0.8:25"}},
		Connectors: []routing.SendConnector{
			{Name: "peer", AddressSpaces: []routing.AddressSpace{{Domain: "peer.example", Cost: 1}}, SourceServers: []string{"hub-a"},
				SmartHosts: []string{"hub-b", "hub-c"}, Enabled: true},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	var p int
	for _, c := range port {
		p = p*10 + int(c-'0')
	}
	conns := []config.SendConnector{{Name: "peer", Port: p, TLS: config.TLSNone, SmartHosts: []string{"hub-b", "hub-c"}, SendXShadow: true}}
	table := routing.NewTable(nil, []routing.Connector{{Name: "peer", Enabled: true}})
	d, err := New(Config{Hostname: "hub-a.test", Routing: table, Topology: topo, LocalServer: "hub-a", SendConnectors: conns,
		Resolver:       &fakeDNS{hosts: map[string][]string{"hub-b": {"127.0.0.1"}, "hub-c": {"127.0.0.9"}}},
		ConnectTimeout: 2 * time.Second, CommandTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	d.st.Load().cfg.ShadowServerID = "hub-a"
	d.st.Load().cfg.Shadows = &refusingRecorder{}
	m := message("y@peer.example")
	m.Rcpts[0].Primary, m.Rcpts[0].ShadowID = "hub-x", "sid-x"
	res := d.Deliver(context.Background(), m, body, all(m))
	if res[0].Outcome != queue.RelayedOK {
		t.Fatalf("taken-over copy: %+v; want relayed plainly to hub-b", res[0])
	}
	if res[0].RelayedTo != "hub-b" {
		t.Errorf("taken-over copy relayed plainly to %s: RelayedTo %q, want hub-b (its primary is never told: a duplicate)", res[0].NextHop, res[0].RelayedTo)
	}
}
