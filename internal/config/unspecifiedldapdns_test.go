package config

import (
	"strings"
	"testing"
)

// SMTP-4: the unspecified address is refused for
// every address umbra connects to (errUnspecifiedHost: "one rule for
// every address umbra connects to"), but ldap.url and dns.servers — both
// addresses umbra connects to — still take 0.0.0.0 and ::.
func TestSMTP4UnspecifiedLDAPAndDNSRefused(t *testing.T) {
	base := "server: {name: a.example.test}\naccepted_domains: [{domain: a.test, type: authoritative, recipient_validation: \"off\"}]\nreceive_connectors:\n  - name: x\n    bindings: [\"127.0.0.1:25\"]\nmailbox: {maildir: m}\n"
	for _, line := range []string{
		`ldap: {url: "ldap://0.0.0.0:389", base_dn: "dc=a,dc=test", recipient_filter: "(mail=%s)"}`,
		`ldap: {url: "ldap://[::]:389", base_dn: "dc=a,dc=test", recipient_filter: "(mail=%s)"}`,
		`dns: {servers: ["0.0.0.0"]}`,
		`dns: {servers: ["[::]:53"]}`,
	} {
		_, err := Parse([]byte(base+line+"\n"), "c.yaml")
		if err == nil || !strings.Contains(err.Error(), "unspecified address") {
			t.Errorf("%s: %v, want refused at its line as the unspecified address", line, err)
		}
	}
}

// SR-1: a source_addresses prefix that starts at the
// unspecified address but is a range (0.0.0.0/1: half of IPv4, 10/8 and
// 127/8 in it; ::/127: ::1 in it) is refused as "the unspecified
// address, which no connection comes from" — words that are untrue of
// it (connections do come from 10.0.0.1 and ::1).
func TestSR1SourcePrefixAtZeroNamedForWhatItIs(t *testing.T) {
	topo := "sites: [{name: a}]\nservers:\n  - {name: hub1, role: hub, site: a, address: \"10.0.0.1:25\", source_addresses: [%s]}\n"
	for _, a := range []string{`"0.0.0.0/1"`, `"::/127"`} {
		_, err := ParseTopology([]byte(strings.Replace(topo, "%s", a, 1)), "t.yaml")
		if err != nil && strings.Contains(err.Error(), "is the unspecified address, which no connection comes from") {
			t.Errorf("source_addresses [%s]: %v: a range that holds real addresses is not the unspecified address", a, err)
		}
	}
}
