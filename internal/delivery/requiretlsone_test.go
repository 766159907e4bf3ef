package delivery

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"umbra/internal/orgid"
	"umbra/internal/queue"
	"umbra/internal/routing"
)

// TLS-1, RFC 8689 §4.2.1 and §5: a verified hop that does not offer
// REQUIRETLS fails a REQUIRETLS message 550 5.7.10, but not its
// bounce (the null reverse path): one rule for every relay, inside the
// organisation as through a send connector (requireTLSRefusal).
func TestRequireTLSBounceRelayedInsideToHubWithout(t *testing.T) {
	ca := newTestCA(t)
	for _, tc := range []struct {
		name  string
		from  string
		want  queue.Outcome
		reply string
	}{
		{"message", "sender@example.org", queue.FailedPerm, "550 5.7.10 REQUIRETLS: hub-b["},
		{"bounce", "", queue.RelayedOK, "250"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startSink(t, "127.0.0.8:0", false, &tls.Config{Certificates: []tls.Certificate{ca.issue(t, "hub-b")}}) // no REQUIRETLS
			topo, err := routing.NewTopology(routing.TopologyInput{
				Sites: []routing.Site{{Name: "a"}, {Name: "b"}},
				Links: []routing.SiteLink{{Name: "a-b", Sites: []string{"a", "b"}, Cost: 1}},
				Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.7:25"},
					{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: s.addr}},
				Connectors: []routing.SendConnector{{Name: "out", AddressSpaces: []routing.AddressSpace{{Domain: "*", Cost: 1}},
					SourceServers: []string{"hub-b"}, SmartHosts: []string{"127.0.0.9:25"}, Enabled: true}},
			})
			if err != nil {
				t.Fatal(err)
			}
			d, err := New(Config{Hostname: "hub-a.test", Routing: routing.NewTable(nil, nil), Topology: topo, LocalServer: "hub-a",
				Resolver: &fakeDNS{}, ConnectTimeout: 2 * time.Second, CommandTimeout: 5 * time.Second,
				TLSConfig: &tls.Config{RootCAs: ca.pool}})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			m := message("r@remote.example")
			m.From, m.RequireTLS, m.OrgID = tc.from, true, orgid.New()
			res := d.Deliver(context.Background(), m, body, all(m))
			if len(res) != 1 || res[0].Outcome != tc.want || !strings.HasPrefix(res[0].Reply, tc.reply) {
				t.Fatalf("%+v, want %v %q", res, tc.want, tc.reply)
			}
		})
	}
}
