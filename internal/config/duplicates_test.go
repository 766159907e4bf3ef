package config

import (
	"strings"
	"testing"
)

// TestSMTP4DuplicateSmartHostAndAddressSpaceRefused (rt39 F7): a send
// connector that lists one smart host twice, or one address space twice
// (at two costs, of which routing takes one silently), is refused at the
// second's line naming the first's — as duplicate accepted domains and
// connector names are; in the configuration and in the topology.
func TestSMTP4DuplicateSmartHostAndAddressSpaceRefused(t *testing.T) {
	cfg := `server: {name: mx.a.test}
accepted_domains: [{domain: a.test, type: authoritative}]
recipients: {addresses: [alice@a.test]}
receive_connectors: [{name: in, bindings: ["127.0.0.1:25"]}]
send_connectors:
  - name: out
    address_spaces:
      - domain: "*"
        cost: 1
      - domain: "Other.test"
        cost: 2
      - domain: "*"
        cost: 5
      - domain: "other.test."
        cost: 2
    smart_hosts:
      - "relay.a.test:2525"
      - "127.0.0.1:26"
      - "RELAY.a.test.:2525"
    tls: none
mailbox: {maildir: m}
`
	_, err := Parse([]byte(cfg), "d.yaml")
	for _, want := range []string{
		`d.yaml:12: send connector "out": address space "*" is listed twice (first at line 8, cost 1)`,
		`d.yaml:14: send connector "out": address space "other.test." is listed twice (first at line 10, cost 2)`,
		`d.yaml:19: send connector "out": smart host "RELAY.a.test.:2525" is listed twice (first at line 17)`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v\nwant an error %q", err, want)
		}
	}
	_, err = ParseTopology([]byte(`sites: [{name: s1}]
servers: [{name: hub.a.test, role: hub, site: s1, address: "127.0.0.1:25"}]
send_connectors:
  - name: out
    source_servers: [hub.a.test]
    address_spaces:
      - {domain: "*", cost: 1}
      - {domain: "*", cost: 5}
    smart_hosts: ["relay.a.test", "relay.a.test"]
`), "t.yaml")
	for _, want := range []string{
		`t.yaml:8: send connector "out": address space "*" is listed twice (first at line 7, cost 1)`,
		`t.yaml:9: send connector "out": smart host "relay.a.test" is listed twice (first at line 9)`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("topology: got %v\nwant an error %q", err, want)
		}
	}
}
