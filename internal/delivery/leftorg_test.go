package delivery

import (
	"context"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/routing"
)

// rt20f F3: a relay through a smart host that is no server of the
// topology leaves the organisation, and its result says so
// (Result.LeftOrg: a shadow server that took the copy over notes the
// recipient for the returning primary); a relay through a smart host
// that is a server of the topology (its address, by the rule config
// check warns by: routing.SmartHostServer) may reach the primary itself
// and does not.
func TestRelayResultSaysWhetherItLeftTheOrganisation(t *testing.T) {
	outside := startSink(t, "127.0.0.1:0", false, nil)
	peer := startSink(t, "127.0.0.1:0", false, nil) // stands in for hub-b
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites: []routing.Site{{Name: "a"}},
		Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.7:25"},
			{Name: "hub-b", Role: routing.RoleHub, Site: "a", Address: peer.addr}},
		Connectors: []routing.SendConnector{
			{Name: "out", AddressSpaces: []routing.AddressSpace{{Domain: "out.example", Cost: 1}}, SourceServers: []string{"hub-a"},
				SmartHosts: []string{outside.addr}, Enabled: true},
			{Name: "peer", AddressSpaces: []routing.AddressSpace{{Domain: "peer.example", Cost: 1}}, SourceServers: []string{"hub-a"},
				SmartHosts: []string{peer.addr}, Enabled: true},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	conns := []config.SendConnector{{Name: "out", Port: 25, TLS: config.TLSNone}, {Name: "peer", Port: 25, TLS: config.TLSNone}}
	table := routing.NewTable(nil, []routing.Connector{{Name: "out", Enabled: true}, {Name: "peer", Enabled: true}})
	d, err := New(Config{Hostname: "hub-a.test", Routing: table, Topology: topo, LocalServer: "hub-a", SendConnectors: conns,
		Resolver: &fakeDNS{}, ConnectTimeout: 2 * time.Second, CommandTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	m := message("x@out.example", "y@peer.example")
	res := d.Deliver(context.Background(), m, body, all(m))
	got := map[int]queue.Result{}
	for _, r := range res {
		got[r.Rcpt] = r
	}
	if r := got[0]; r.Outcome != queue.RelayedOK || r.Queue != "smarthost:out" || !r.LeftOrg {
		t.Errorf("through the outside smart host: %+v, want RelayedOK in smarthost:out, LeftOrg", r)
	}
	if r := got[1]; r.Outcome != queue.RelayedOK || r.Queue != "smarthost:peer" || r.LeftOrg {
		t.Errorf("through hub-b's address: %+v, want RelayedOK in smarthost:peer, not LeftOrg", r)
	}
	// SR-6, SR-7: which server of the topology it went to, for the
	// note a taken-over copy's primary is owed when it is another.
	if r := got[1]; r.RelayedTo != "hub-b" {
		t.Errorf("through hub-b's address: RelayedTo %q, want hub-b", r.RelayedTo)
	}
	if r := got[0]; r.RelayedTo != "" {
		t.Errorf("through the outside smart host: RelayedTo %q, want none", r.RelayedTo)
	}
}
