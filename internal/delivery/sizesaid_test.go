package delivery

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"umbra/internal/orgid"
	"umbra/internal/routing"
)

// RT-7 (rt32c): a routing refusal for the message's size names the size
// the limit is held to — the message as sent, without the trace fields
// umbra's servers added — while the log and message list give the size
// stored, with them (4308 in the bounce, 4460 in the log). The bounce
// says both, and which is which.
func TestTopologySizeRefusalSaysTheStoredSize(t *testing.T) {
	const limit = 4000
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites:   []routing.Site{{Name: "a"}, {Name: "b"}},
		Links:   []routing.SiteLink{{Name: "a-b", Sites: []string{"a", "b"}, Cost: 1, MaxMessageSize: limit}},
		Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.7:25"}, {Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: "127.0.0.8:25"}},
		Connectors: []routing.SendConnector{{Name: "out", AddressSpaces: []routing.AddressSpace{{Domain: "*", Cost: 1}},
			SourceServers: []string{"hub-b"}, SmartHosts: []string{"127.0.0.9:25"}, Enabled: true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{Hostname: "hub-a.test", Routing: routing.NewTable(nil, nil), Topology: topo, LocalServer: "hub-a",
		Resolver: &fakeDNS{}, ConnectTimeout: 2 * time.Second, CommandTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	stored := append([]byte(traceOf), senderMessage(limit+1)...)
	m := message("r@remote.example")
	m.Size, m.ClientIP, m.OrgID = int64(len(stored)), "192.0.2.9", orgid.New()
	res := d.Deliver(context.Background(), m, stored, all(m))
	if len(res) != 1 || !strings.HasPrefix(res[0].Reply, "552 5.3.4") {
		t.Fatalf("%+v", res)
	}
	if want := fmt.Sprintf("%d bytes as stored", len(stored)); !strings.Contains(res[0].Reply, want) {
		t.Errorf("refused with %q, want it to say %q", res[0].Reply, want)
	}
}
