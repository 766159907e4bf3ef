package delivery

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

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
	ln, err := net.Listen("tcp", "127.0.0.158:38231")
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
	hubB := "127.0.0.158:38232"
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
