package config

import (
	"strings"
	"testing"
)

// RT-1, OPS config (opsrt40 F6): an address space's cost out of its
// range — 0, a negative one, one over 100 — is refused in one message,
// with the key's path, the value as written and the range 1 to 100, in
// the configuration and in the topology alike.
func TestOPSAddressSpaceCostOneRefusal(t *testing.T) {
	for _, cost := range []string{"0", "-1", "101"} {
		want := "send_connectors[0].address_spaces[0].cost: " + cost + " is refused: an address space cost is 1 to 100; without the key the cost is 0, before every written one"
		conf := "server: {name: a.example.test}\nmailbox: {maildir: md}\nsend_connectors:\n  - name: out\n    address_spaces: [{domain: \"*\", cost: " + cost + "}]\n"
		_, err := Parse([]byte(conf), "hub.yaml")
		if err == nil || !strings.Contains(err.Error(), "hub.yaml:5: "+want) {
			t.Errorf("configuration, cost %s: %v\nwant hub.yaml:5: %s", cost, err, want)
		}
		topo := "sites: [{name: s1, subnets: [\"10.1.0.0/16\"]}]\nservers: [{name: hub1.example.test, role: hub, site: s1, address: \"10.1.0.10:25\"}]\n" +
			"send_connectors:\n  - {name: out, address_spaces: [{domain: \"*\", cost: " + cost + "}], source_servers: [hub1.example.test]}\n"
		_, err = ParseTopology([]byte(topo), "topo.yaml")
		if err == nil || !strings.Contains(err.Error(), "topo.yaml:4: "+want) {
			t.Errorf("topology, cost %s: %v\nwant topo.yaml:4: %s", cost, err, want)
		}
	}
}
