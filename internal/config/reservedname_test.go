package config

import (
	"fmt"
	"strings"
	"testing"
)

// OPS-5, Q-2: a send connector may not take a name umbra gives to a
// queue, destination or next hop of its own — an operator's queue
// redirect ("redirect": the destination of umbra_outbound_sessions_total
// and the self-check's connector), the next hops of mail no connector
// takes (unreachable, routing, directory, expansion) — nor a "/", which
// makes its destination connector:NAME read as another connector's
// per-domain MX destination (connector:NAME/DOMAIN). Each is refused at
// its line, in the configuration file and in the topology alike, so no
// two queues, destinations or next hops look alike.
func TestOPSSendConnectorReservedNames(t *testing.T) {
	for _, name := range []string{"redirect", "Redirect", "unreachable", "routing", "directory", "expansion", "out/example.org", "/"} {
		cfg := fmt.Sprintf(`server: {name: a.example.test}
receive_connectors:
  - name: x
    bindings: ["127.0.0.1:25"]
send_connectors:
  - name: out
    address_spaces: [{domain: "*", cost: 1}]
  - name: %q
    address_spaces: [{domain: "example.org", cost: 1}]
    smart_hosts: ["relay.example:25"]
`, name)
		_, err := Parse([]byte(cfg), "umbra.yaml")
		want := fmt.Sprintf("umbra.yaml:8: send connector name %q", name)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("configuration: send connector %q: %v, want %q", name, err, want)
		}
		topo := fmt.Sprintf(`sites: [{name: s1}]
servers: [{name: hub.a.test, role: hub, site: s1, address: "127.0.0.1:25"}]
send_connectors:
  - name: out
    source_servers: [hub.a.test]
    address_spaces: [{domain: "*", cost: 1}]
  - name: %q
    source_servers: [hub.a.test]
    address_spaces: [{domain: "example.org", cost: 1}]
    smart_hosts: ["relay.example:25"]
`, name)
		_, err = ParseTopology([]byte(topo), "t.yaml")
		want = fmt.Sprintf("t.yaml:7: send connector name %q", name)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("topology: send connector %q: %v, want %q", name, err, want)
		}
	}
	// Names that only contain a reserved word are names like any other.
	for _, name := range []string{"redirects", "mx", "smarthost", "out-example.org", "site:b"} {
		if _, err := Parse([]byte(fmt.Sprintf(`server: {name: a.example.test}
receive_connectors:
  - name: x
    bindings: ["127.0.0.1:25"]
send_connectors:
  - name: %q
    address_spaces: [{domain: "*", cost: 1}]
`, name)), "umbra.yaml"); err != nil {
			t.Errorf("send connector %q: %v", name, err)
		}
	}
}

// The sibling in the topology: a site's queue is site:NAME and its
// destination site:NAME/SERVERS, and queue suspend site:NAME/… reads
// NAME up to the "/" — a site named "a/b" made its queue site:a/b read
// as site a's, and refused as no queue. A "/" in a site's name is
// refused at its line.
func TestOPSSiteNameWithoutSlash(t *testing.T) {
	_, err := ParseTopology([]byte(`sites: [{name: "east/1"}, {name: west}]
site_links: [{name: l, sites: ["east/1", west], cost: 1}]
servers:
  - {name: hub.a.test, role: hub, site: "east/1", address: "127.0.0.1:25"}
  - {name: hub.b.test, role: hub, site: west, address: "127.0.0.2:25"}
`), "t.yaml")
	if want := `t.yaml:1: site name "east/1" holds "/"`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("%v\nwant %q", err, want)
	}
}

// OPS-5 (sibling of the names above): umbra_outbound_sessions_total's
// destination is a send connector's name standing alone, and umbra
// gives it "org" for its relays to the topology's servers and "mailbox"
// for their LMTP sessions (delivery.outboundOrg, outboundMailbox), as
// it gives "redirect" to an operator's redirect; "maildir" is the next
// hop of this server's own Maildir store, where a connector's name
// stands alone as the next hop of a message over its size limit. A send
// connector named so, in any letter case, counted its sessions in the
// topology's series (or showed a refusal as a Maildir's): refused at
// its line as the others are, here and in the topology.
func TestOPSSendConnectorNamesOfOwnDestinationsReserved(t *testing.T) {
	for _, name := range []string{"org", "Org", "mailbox", "MAILBOX", "maildir"} {
		_, err := Parse([]byte(fmt.Sprintf(`server: {name: a.example.test}
receive_connectors:
  - name: x
    bindings: ["127.0.0.1:25"]
send_connectors:
  - name: out
    address_spaces: [{domain: "*", cost: 1}]
  - name: %q
    address_spaces: [{domain: "example.org", cost: 1}]
    smart_hosts: ["relay.example:25"]
`, name)), "umbra.yaml")
		want := fmt.Sprintf("umbra.yaml:8: send connector name %q is reserved", name)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("configuration: send connector %q: %v, want %q", name, err, want)
		}
		_, err = ParseTopology([]byte(fmt.Sprintf(`sites: [{name: s1}]
servers: [{name: hub.a.test, role: hub, site: s1, address: "127.0.0.1:25"}]
send_connectors:
  - name: %q
    source_servers: [hub.a.test]
    address_spaces: [{domain: "*", cost: 1}]
`, name)), "t.yaml")
		want = fmt.Sprintf("t.yaml:4: send connector name %q is reserved", name)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("topology: send connector %q: %v, want %q", name, err, want)
		}
	}
}
