package config

import "testing"

// A domain written with its final dot is the same domain (rt51 F1, F2):
// an accepted domain keeps its type's validation, an address space or a
// topology connector's address space matches the domain, wherever the
// dot was written.
func TestFinalDotIsTheSameDomain(t *testing.T) {
	c, err := Parse([]byte(`server: {name: mx.a.test}
accepted_domains: [{domain: example.test., type: authoritative}, {domain: "*.sub.test.", type: internal_relay}]
recipients: {addresses: [alice@example.test]}
receive_connectors: [{name: in, bindings: ["127.0.0.1:25"]}]
send_connectors: [{name: out, address_spaces: [{domain: "sink.test.", cost: 1}], smart_hosts: ["127.0.0.1:26"], tls: none}]
mailbox: {maildir: m}
`), "d.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if d := c.AcceptedDomains[0]; d.Domain != "example.test" || d.RecipientValidation != ValidationDirectory {
		t.Errorf("accepted domain %+v, want example.test validated by directory", d)
	}
	if d := c.AcceptedDomains[1]; d.Domain != "*.sub.test" || d.RecipientValidation != ValidationCallout {
		t.Errorf("accepted domain %+v, want *.sub.test validated by callout", d)
	}
	if a := c.SendConnectors[0].AddressSpaces[0]; a.Domain != "sink.test" {
		t.Errorf("address space %+v, want sink.test", a)
	}
	topo, err := ParseTopology([]byte(`sites: [{name: s1}]
servers: [{name: hub.a.test, role: hub, site: s1, address: "127.0.0.1:25"}]
send_connectors: [{name: out, source_servers: [hub.a.test], address_spaces: [{domain: "sink.test.", cost: 1}], smart_hosts: ["127.0.0.1:26"]}]
`), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if a := topo.SendConnectors[0].AddressSpaces[0]; a.Domain != "sink.test" {
		t.Errorf("topology address space %+v, want sink.test", a)
	}
}
