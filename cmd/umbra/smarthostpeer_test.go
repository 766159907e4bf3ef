package main

import (
	"strings"
	"testing"

	"umbra/internal/config"
	"umbra/internal/topology"
)

// rt20c F5: a send connector whose smart host is another server of the
// topology hands the organisation's mail back to its routing, which sends
// it through the connector again, round and round until the hop limit
// bounces it (554 5.4.6). config check (and start, and each reload) warns
// at the smart host's line. A smart host written as a server's name at
// the port of its topology address is that server too (rt20f F3: the
// one rule by which a relay leaves the organisation); at another port
// it is another service of that host, which delivery relays to as
// outside the organisation, and not warned of (OPS-42 item 4: it was,
// by a rule of config check's own); this server's own name is other
// checks'.
func TestSmartHostThatIsAnotherServerOfTheTopology(t *testing.T) {
	ct, err := config.ParseTopology([]byte(`sites:
  - {name: A, subnets: ["127.0.1.0/24", "::1/128"]}
servers:
  - {name: hub-a.test, role: hub, address: "127.0.1.1:2525"}
  - {name: hub-d.test, role: hub, address: "127.0.1.4:25"}
  - {name: hub-e.test, role: hub, address: "[::1]:25"}
send_connectors:
  - name: out
    address_spaces: [{domain: "*", cost: 1}]
    source_servers: [hub-d.test]
    smart_hosts: ["127.0.9.9:25", "127.0.1.1:2525"]
  - name: other
    address_spaces: [{domain: "x.test", cost: 1}]
    source_servers: [hub-a.test]
    smart_hosts: ["127.0.1.4"]
`), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse([]byte(`server: {name: hub-d.test}
receive_connectors: [{name: x, bindings: ["127.0.1.4:25"]}]
send_connectors:
  - name: mine
    address_spaces: [{domain: "y.test", cost: 1}]
    tls: none
    smart_hosts: ["127.0.9.8", "[0:0::1]", "127.0.1.1:2525", "Hub-A.test.:587", "Hub-A.test.:2525", "hub-d.test"]
`), "c.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rt, err := topology.Build(ct)
	if err != nil {
		t.Fatal(err)
	}
	got := smartHostsThatAreTopologyServers(cfg, ct, rt)
	want := []string{
		"c.yaml:7: warning: send connector mine: smart host [0:0::1] is the address of hub-e.test, a server of the topology",
		"c.yaml:7: warning: send connector mine: smart host 127.0.1.1:2525 is the address of hub-a.test, a server of the topology",
		"c.yaml:7: warning: send connector mine: smart host Hub-A.test.:2525 is the name of hub-a.test, a server of the topology",
		"t.yaml:11: warning: topology send connector out: smart host 127.0.1.1:2525 is the address of hub-a.test, a server of the topology",
	}
	if len(got) != len(want) {
		t.Fatalf("got %d warnings, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("warning %d:\n got %s\nwant %s…", i, got[i], want[i])
		}
	}
}
