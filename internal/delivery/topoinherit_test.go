package delivery

import (
	"context"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/orgid"
	"umbra/internal/queue"
	"umbra/internal/routing"
)

// A configured send connector gives its settings to the topology
// connector of the same name; a field it does not write is the
// topology's (rt17e-F3): a configured "viaalias" that only grants
// send_xshadow keeps the topology's smart host, and its mail goes there,
// not to an MX lookup of the recipient's domain (RT-, README "a connector
// here only gives its settings").
func TestConfiguredConnectorKeepsTheTopologysSmartHosts(t *testing.T) {
	s := startSink(t, "127.0.0.8:0", false, nil)
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites:   []routing.Site{{Name: "a"}},
		Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.7:25"}},
		Connectors: []routing.SendConnector{{Name: "viaalias", AddressSpaces: []routing.AddressSpace{{Domain: "alias.test", Cost: 1}},
			SourceServers: []string{"hub-a"}, SmartHosts: []string{s.addr}, MaxSize: 1 << 20, Enabled: true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	conns := []config.SendConnector{{Name: "viaalias", Port: 25, TLS: config.TLSNone, SendXShadow: true}}
	table := routing.NewTable(nil, []routing.Connector{{Name: "viaalias", Enabled: true}})
	d, err := New(Config{Hostname: "hub-a.test", Routing: table, Topology: topo, LocalServer: "hub-a", SendConnectors: conns,
		Resolver: &fakeDNS{}, ConnectTimeout: 2 * time.Second, CommandTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	m := message("r@alias.test")
	m.OrgID = orgid.New()
	res := d.Deliver(context.Background(), m, body, all(m))
	if len(res) != 1 || res[0].Outcome != queue.RelayedOK {
		t.Fatalf("%+v, want delivered to the topology's smart host %s", res, s.addr)
	}
	if got := s.received(); len(got) != 1 {
		t.Fatalf("the topology's smart host got %d messages, want 1", len(got))
	}
}
