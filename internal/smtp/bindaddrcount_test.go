package smtp

import (
	"fmt"
	"sync"
	"testing"

	"umbra/internal/routing"
)

type addrRefusedObserver struct {
	nopObserver
	mu      sync.Mutex
	servers []string
}

func (o *addrRefusedObserver) ShadowAddressRefused(server string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.servers = append(o.servers, server)
}

// SR-1 (rt39 shadow3 F2): an XSHADOW on an externally secured connector
// stating a server the topology lists at other addresses is refused
// "Server id does not match the connection's address" — and counted in
// umbra_smtp_shadow_address_refused_total{server}, as the README's
// metrics table says of that refusal, not only where a server account
// or certificate named the server.
func TestSR1TrustedConnectorAddressRefusalCounted(t *testing.T) {
	topo, err := routing.NewTopology(routing.TopologyInput{Sites: []routing.Site{{Name: "s1"}},
		Servers: []routing.Server{{Name: "hub2", Role: routing.RoleHub, Site: "s1", Address: "192.0.2.10:25"}}})
	if err != nil {
		t.Fatal(err)
	}
	conns := withServerRights(connectors(t, fmt.Sprintf(`
  - name: transport
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    externally_secured: true
    permissions: {anonymous: [submit]}
`, rt39Addr(t))), 0, "submit", "relay", "accept-xshadow")
	obs := &addrRefusedObserver{}
	s, err := NewServer(ServerConfig{Hostname: "mx.test", Connectors: conns, Routing: testTable(), Queue: &markQueue{mark: 5},
		Shadow: newPartialShadow(), ShadowEnabled: true, Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	s.Serve()
	t.Cleanup(func() { ctx, cancel := contextWithTimeout(5e9); defer cancel(); s.Shutdown(ctx) })
	s.SetServers(topo)

	d := dial(t, s, "127.0.0.171")
	d.expect("220")
	d.cmd("EHLO stranger.test", "250")
	d.cmd("XSHADOW hub2", "550 5.7.1 Server id does not match the connection's address")
	d.cmd("QUIT", "221")
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if len(obs.servers) != 1 || obs.servers[0] != "hub2" {
		t.Fatalf("address refusals counted: %q, want [hub2]", obs.servers)
	}
}
