package config

import (
	"strings"
	"testing"
)

// Item 4: every topology mistake is a configuration error at its line,
// never a silent wrong route or a message sent to poison. A cost is a
// positive number: a written 0 (which routing read as "the cheapest" for
// an address space, as "no override" for umbra_cost and as 1 for a
// routing group connector) is refused, as a negative one is.
func TestTopologyMistakesRefusedAtTheirLine(t *testing.T) {
	const base = `sites:
  - {name: A, subnets: ["127.0.1.0/24"]}
  - {name: B, subnets: ["127.0.2.0/24"]}
site_links:
  - {name: ab, sites: [A, B], cost: 10}
servers:
  - {name: hubA, role: hub, address: "127.0.1.1:25"}
  - {name: hubB, role: hub, address: "127.0.2.1:25"}
  - {name: ex2003, role: legacy, routing_group: rg1}
routing_group_connectors:
  - {name: rgc, groups: [modern, rg1], source_servers: [hubA], cost: 5}
send_connectors:
  - name: out
    address_spaces: [{domain: "*", cost: 1}]
    source_servers: [hubA]
    smart_hosts: ["127.0.3.8:25"]
`
	if _, err := ParseTopology([]byte(base), "t.yaml"); err != nil {
		t.Fatalf("base refused: %v", err)
	}
	for _, c := range []struct{ name, old, new, want string }{
		// Costs.
		{"site link cost 0", "cost: 10}", "cost: 0}", "t.yaml:5: site link cost must be 1 to"},
		{"site link cost negative", "cost: 10}", "cost: -3}", "t.yaml:5: site link cost must be 1 to"},
		{"umbra_cost 0", "cost: 10}", "cost: 10, umbra_cost: 0}", "t.yaml:5: site_links[0].umbra_cost: 0 is refused"},
		{"umbra_cost negative", "cost: 10}", "cost: 10, umbra_cost: -1}", "t.yaml:5: site_links[0].umbra_cost: -1 is refused: a site link's umbra_cost is 1 to 99999"},
		{"routing group connector cost 0", "cost: 5}", "cost: 0}", "t.yaml:11: routing_group_connectors[0].cost: 0 is refused"},
		{"routing group connector cost negative", "cost: 5}", "cost: -5}", "t.yaml:11: routing_group_connectors[0].cost: -5 is refused: a routing group connector's cost is 1 to 100"},
		{"address space cost 0", `cost: 1}]`, `cost: 0}]`, "t.yaml:14: send_connectors[0].address_spaces[0].cost: 0 is refused"},
		{"address space cost negative", `cost: 1}]`, `cost: -1}]`, "t.yaml:14: send_connectors[0].address_spaces[0].cost: -1 is refused: an address space cost is 1 to 100"},
		// A size of 0 is no "no limit" (rt20c F4): without the key there is none.
		{"site link max_message_size 0", "cost: 10}", "cost: 10, max_message_size: 0}", "t.yaml:5: site_links[0].max_message_size: 0 is refused"},
		{"site link max_message_size 0MiB", "cost: 10}", "cost: 10, max_message_size: 0MiB}", "t.yaml:5: site_links[0].max_message_size: 0MiB is refused"},
		{"send connector max_message_size 0", "smart_hosts: [\"127.0.3.8:25\"]\n", "smart_hosts: [\"127.0.3.8:25\"]\n    max_message_size: 0\n", "t.yaml:17: send_connectors[0].max_message_size: 0 is refused"},
		{"routing group connector max_message_size 0", "cost: 5}", "cost: 5, max_message_size: 0}", "t.yaml:11: routing_group_connectors[0].max_message_size: 0 is refused"},
		// Names that name nothing.
		{"site link naming no site", "sites: [A, B]", "sites: [A, C]", `t.yaml:5: site link "ab" names unknown site "C"`},
		{"server in an unknown site", `{name: hubB, role: hub, address`, `{name: hubB, role: hub, site: C, address`, `t.yaml:8: server "hubB" is in unknown site "C"`},
		{"source server naming no server", "source_servers: [hubA]\n    smart", "source_servers: [hubX]\n    smart", `t.yaml:15: send connector "out" names unknown source server "hubX"`},
		{"bridgehead naming no server", "source_servers: [hubA], cost", "source_servers: [hubX], cost", `t.yaml:11: routing group connector "rgc" names unknown source server "hubX"`},
		// A server in two sites: its site and its address's.
		{"server in two sites", `{name: hubB, role: hub, address`, `{name: hubB, role: hub, site: A, address`, `t.yaml:8: server "hubB" is given site "A", but its address 127.0.2.1:25 is in a subnet of site "B"`},
		{"subnet in two sites", `{name: B, subnets: ["127.0.2.0/24"]}`, `{name: B, subnets: ["127.0.2.0/24", "127.0.1.0/24"]}`, `t.yaml:3: subnet 127.0.1.0/24 of site "B" is already a subnet of site "A"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(base, c.old) {
				t.Fatalf("%q not in base", c.old)
			}
			_, err := ParseTopology([]byte(strings.Replace(base, c.old, c.new, 1)), "t.yaml")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v\nwant %s", err, c.want)
			}
		})
	}
	// The configuration's own send connectors alike.
	_, err := Parse([]byte("server: {name: a.example.test}\nreceive_connectors: [{name: x, bindings: [\"127.0.0.1:25\"]}]\n"+
		"send_connectors: [{name: out, address_spaces: [{domain: \"*\", cost: 0}], smart_hosts: [\"127.0.3.8:25\"], tls: none}]\n"), "c.yaml")
	if err == nil || !strings.Contains(err.Error(), "c.yaml:3: send_connectors[0].address_spaces[0].cost: 0 is refused") {
		t.Errorf("configuration address space cost 0: %v", err)
	}
	_, err = Parse([]byte("server: {name: a.example.test}\nreceive_connectors: [{name: x, bindings: [\"127.0.0.1:25\"]}]\n"+
		"send_connectors: [{name: out, address_spaces: [{domain: \"*\", cost: 1}], smart_hosts: [\"127.0.3.8:25\"], tls: none, max_message_size: 0}]\n"), "c.yaml")
	if err == nil || !strings.Contains(err.Error(), "c.yaml:3: send_connectors[0].max_message_size: 0 is refused") {
		t.Errorf("configuration send connector max_message_size 0: %v", err)
	}
}
