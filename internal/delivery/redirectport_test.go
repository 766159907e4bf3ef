package delivery

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/routing"
)

// SR-2, SR-10: a redirect to another port of a hub's host name reaches
// another service there, not the hub (config.SmartHostNames: another
// port of the same host is another service, with another account), so
// the relay names no server of the topology as its primary. Here the
// target is a plain MTA on hub-b.test's host at a port that is not
// hub-b's: the message is relayed and forgotten, as to any next hop
// that offers no XSHADOW. The primary was named hub-b by its host name
// at any port: XSHADOW was asked of the plain MTA, its refusal recorded
// and logged as hub-b's, and the relay's result named hub-b as the
// server the mail went to.
func TestSR2RedirectToOtherPortOfHubHostIsNotTheHub(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.158:8231")
	if err != nil {
		t.Fatal(err)
	}
	asked := make(chan string, 4)
	addr := scriptedPeerOn(t, ln, "250-plain.test\r\n250 PIPELINING\r\n", func(line string) string {
		cmd := strings.ToUpper(line)
		switch {
		case strings.HasPrefix(cmd, "XSHADOW"):
			asked <- cmd
			return "502 5.5.1 Unknown command\r\n"
		case strings.HasPrefix(cmd, "QUIT"):
			return "221 bye\r\n"
		}
		return "250 ok\r\n"
	})
	_, port, _ := net.SplitHostPort(addr)
	// hub-b.test listens elsewhere on the same host (nothing answers
	// there: the relay must not be taken for one to it).
	hubB := "127.0.0.158:8232"
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites: []routing.Site{{Name: "a"}},
		Servers: []routing.Server{{Name: "hub-a.test", Role: routing.RoleHub, Site: "a", Address: "127.0.0.157:1"},
			{Name: "hub-b.test", Role: routing.RoleHub, Site: "a", Address: hubB}},
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{Hostname: "hub-a.test", Routing: routing.NewTable(nil, nil), Topology: topo, LocalServer: "hub-a.test",
		Resolver:       &fakeDNS{hosts: map[string][]string{"hub-b.test": {"127.0.0.158"}}},
		ConnectTimeout: 2 * time.Second, CommandTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	rec := &refusingRecorder{}
	d.st.Load().cfg.ShadowServerID = "hub-a.test"
	d.st.Load().cfg.Shadows = rec
	m := message("r@remote.example")
	m.Rcpts[0].Redirect = "hub-b.test:" + port
	res := d.Deliver(context.Background(), m, body, all(m))
	if len(res) != 1 || res[0].Outcome != queue.RelayedOK {
		t.Fatalf("%+v, want relayed to the plain MTA", res)
	}
	if res[0].RelayedTo != "" {
		t.Errorf("relayed to %q: the plain MTA on another port is no server of the topology", res[0].RelayedTo)
	}
	select {
	case cmd := <-asked:
		t.Errorf("asked %q of a next hop outside that offers no XSHADOW", cmd)
	default:
	}
	rec.mu.Lock()
	refused := append([]string(nil), rec.refused...)
	rec.mu.Unlock()
	if len(refused) != 0 {
		t.Errorf("refusals recorded against hub-b.test: %q", refused)
	}
}

// rt20f F3, SR-14: a send connector whose smart host is a hub's name at
// another port than the hub's topology address reaches another service
// of that host, outside the organisation: its relay's result says it
// left it (Result.LeftOrg, the note a taken-over copy's returning
// primary is owed) and names no server it went to (RelayedTo). It was
// taken for the hub, by its name at any port.
func TestRelayToOtherPortOfHubHostLeavesTheOrganisation(t *testing.T) {
	other := startSink(t, "127.0.0.158:8241", false, nil) // another service on hub-b's host
	_, port, _ := net.SplitHostPort(other.addr)
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites: []routing.Site{{Name: "a"}},
		Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.157:8240"},
			{Name: "hub-b", Role: routing.RoleHub, Site: "a", Address: "127.0.0.158:8242"}},
		Connectors: []routing.SendConnector{
			{Name: "other", AddressSpaces: []routing.AddressSpace{{Domain: "other.example", Cost: 1}}, SourceServers: []string{"hub-a"},
				SmartHosts: []string{"hub-b:" + port}, Enabled: true},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	conns := []config.SendConnector{{Name: "other", Port: 25, TLS: config.TLSNone}}
	table := routing.NewTable(nil, []routing.Connector{{Name: "other", Enabled: true}})
	d, err := New(Config{Hostname: "hub-a.test", Routing: table, Topology: topo, LocalServer: "hub-a", SendConnectors: conns,
		Resolver: &fakeDNS{hosts: map[string][]string{"hub-b": {"127.0.0.158"}}}, ConnectTimeout: 2 * time.Second, CommandTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	m := message("x@other.example")
	res := d.Deliver(context.Background(), m, body, all(m))
	if len(res) != 1 || res[0].Outcome != queue.RelayedOK || !res[0].LeftOrg || res[0].RelayedTo != "" {
		t.Fatalf("%+v, want RelayedOK, LeftOrg, RelayedTo none: the service at hub-b's host's other port is not hub-b", res)
	}
	if got := other.received(); len(got) != 1 {
		t.Fatalf("the other service got %d messages, want 1", len(got))
	}
}
