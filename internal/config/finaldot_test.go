package config

import (
	"strings"
	"testing"
)

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

// TestRT9FinalDotOfNoDomainRefusedAsWritten (rt39 F3): a final dot
// removed leaves a domain only after a label: "*." is no domain — not
// "*", every domain —, nor is "example.test.." "example.test.". Each is
// refused at its line naming the value as the file writes it, as an
// accepted domain, a send connector's address space and a topology
// connector's.
func TestRT9FinalDotOfNoDomainRefusedAsWritten(t *testing.T) {
	for _, v := range []string{"*.", "example.test..", "*.sub.test.."} {
		cfg := `server: {name: mx.a.test}
accepted_domains: [{domain: a.test, type: authoritative}]
recipients: {addresses: [alice@a.test]}
receive_connectors: [{name: in, bindings: ["127.0.0.1:25"]}]
send_connectors:
  - name: out
    address_spaces:
      - domain: "` + v + `"
        cost: 1
    smart_hosts: ["127.0.0.1:26"]
    tls: none
mailbox: {maildir: m}
`
		_, err := Parse([]byte(cfg), "d.yaml")
		if want := `d.yaml:8: address space "` + v + `"`; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("address space %q: %v, want an error %q", v, err, want)
		}
		acc := strings.Replace(cfg, "{domain: a.test, type: authoritative}", "{domain: a.test, type: authoritative}, {domain: \""+v+"\", type: internal_relay}", 1)
		acc = strings.Replace(acc, `"`+v+`"`+"\n        cost", `"*"`+"\n        cost", 1)
		_, err = Parse([]byte(acc), "d.yaml")
		if want := `d.yaml:2: accepted domain "` + v + `"`; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("accepted domain %q: %v, want an error %q", v, err, want)
		}
		_, err = ParseTopology([]byte(`sites: [{name: s1}]
servers: [{name: hub.a.test, role: hub, site: s1, address: "127.0.0.1:25"}]
send_connectors: [{name: out, source_servers: [hub.a.test], address_spaces: [{domain: "`+v+`", cost: 1}], smart_hosts: ["127.0.0.1:26"]}]
`), "t.yaml")
		if want := `t.yaml:3: address space "` + v + `"`; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("topology address space %q: %v, want an error %q", v, err, want)
		}
	}
}
