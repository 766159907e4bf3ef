package delivery

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/orgid"
	"umbra/internal/queue"
	"umbra/internal/routing"
)

// An operator's queue redirect sends the mail with the TLS and auth
// settings of the send connector that routes its domain — under a
// topology the connector the topology's route names (Topology.Route, as
// delivery and route explain), not the one the configuration's address
// spaces alone would pick. Here the configuration keeps an old "*"
// connector without TLS; the topology sends "*" through "internet"
// (tls: verify): the redirected mail must not go to a host whose
// certificate does not verify.
func TestRedirectUnderTopologyUsesTheRoutesConnector(t *testing.T) {
	ca := newTestCA(t)
	s := startSink(t, "127.0.0.8:0", false, &tls.Config{Certificates: []tls.Certificate{ca.issue(t, "other.test")}})
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites:   []routing.Site{{Name: "a"}},
		Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.7:25"}},
		Connectors: []routing.SendConnector{{Name: "internet", AddressSpaces: []routing.AddressSpace{{Domain: "*", Cost: 1}},
			SourceServers: []string{"hub-a"}, Enabled: true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	conns := []config.SendConnector{
		{Name: "old", AddressSpaces: []config.AddressSpace{{Domain: "*", Cost: 1}}, Port: 25, TLS: config.TLSNone},
		{Name: "internet", Port: 25, TLS: config.TLSVerify},
	}
	table := routing.NewTable(nil, []routing.Connector{
		{Name: "old", Enabled: true, AddressSpaces: []routing.AddressSpace{{Domain: "*", Cost: 1}}},
		{Name: "internet", Enabled: true},
	})
	d, err := New(Config{Hostname: "hub-a.test", Routing: table, Topology: topo, LocalServer: "hub-a", SendConnectors: conns,
		Resolver: &fakeDNS{}, ConnectTimeout: 2 * time.Second, CommandTimeout: 5 * time.Second,
		TLSConfig: &tls.Config{RootCAs: ca.pool}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	m := message("r@remote.example")
	m.OrgID = orgid.New()
	m.Rcpts[0].Redirect = s.addr
	res := d.Deliver(context.Background(), m, body, all(m))
	if len(res) != 1 || res[0].Outcome != queue.Deferred || !strings.HasPrefix(res[0].Reply, "451 4.7.5 ") {
		t.Fatalf("%+v, want deferred 451 4.7.5: connector internet verifies", res)
	}
	if got := s.received(); len(got) != 0 {
		t.Fatalf("the redirect target with a certificate that does not verify got %d messages", len(got))
	}
}

// route explain's TLS part names the setting of the connector the mail
// leaves through — under a topology the route's (the sibling of the
// redirect's connector above), not the configuration's "*" connector.
func TestExplainConnectorUnderTopology(t *testing.T) {
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites:   []routing.Site{{Name: "a"}},
		Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.7:25"}},
		Connectors: []routing.SendConnector{{Name: "internet", AddressSpaces: []routing.AddressSpace{{Domain: "*", Cost: 1}},
			SourceServers: []string{"hub-a"}, Enabled: true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	conns := []config.SendConnector{
		{Name: "old", AddressSpaces: []config.AddressSpace{{Domain: "*", Cost: 1}}, Port: 25, TLS: config.TLSNone},
		{Name: "internet", Port: 2525, TLS: config.TLSVerify, MXAddressLimit: 3},
	}
	table := routing.NewTable(nil, []routing.Connector{
		{Name: "old", Enabled: true, AddressSpaces: []routing.AddressSpace{{Domain: "*", Cost: 1}}},
		{Name: "internet", Enabled: true},
	})
	d, err := New(Config{Hostname: "hub-a.test", Routing: table, Topology: topo, LocalServer: "hub-a", SendConnectors: conns, Resolver: &fakeDNS{}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if tlsSet, port, limit := d.ExplainConnector("remote.example"); tlsSet != config.TLSVerify || port != 2525 || limit != 3 {
		t.Fatalf("explained connector: tls %q port %d limit %d, want internet's verify 2525 3", tlsSet, port, limit)
	}
}
