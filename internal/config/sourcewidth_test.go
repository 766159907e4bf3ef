package config

import (
	"fmt"
	"strings"
	"testing"
)

// SR-1, SMTP-4 (rt28e F5): the unspecified or a multicast source
// address is refused in every spelling — "::ffff:0.0.0.0" as "0.0.0.0"
// (it was a warning only). A topology server's source_addresses may not
// let any host claim the server, and no server's connections come from
// more than a /8 of IPv4 or a /32 of IPv6: an entry wider is refused at
// its line, and so is a list whose entries together cover more (prefixes
// nest or are apart, so the union is the sum of the outermost). Before,
// each entry was checked alone against 0.0.0.0/0: 128.0.0.0/1, 2000::/3
// or the halves 0.0.0.0/1 + 128.0.0.0/1 loaded.
func TestSR1SourceAddressesOneRuleEverySpelling(t *testing.T) {
	base := "server: {name: a.example.test, source_address: %q}\naccepted_domains: [{domain: a.test, type: authoritative, recipient_validation: \"off\"}]\nreceive_connectors:\n  - name: x\n    bindings: [\"127.0.0.1:25\"]\nmailbox: {maildir: m}\n"
	for _, a := range []string{"0.0.0.0", "::ffff:0.0.0.0", "::", "224.0.0.1", "::ffff:224.0.0.1"} {
		_, err := Parse([]byte(fmt.Sprintf(base, a)), "c.yaml")
		if err == nil || !strings.Contains(err.Error(), "is not a unicast address") {
			t.Errorf("server.source_address %q: %v, want refused (not a unicast address)", a, err)
		}
	}
	topo := "sites: [{name: a}]\nservers:\n  - {name: hub1, role: hub, site: a, address: \"10.0.0.1:25\", source_addresses: [%s]}\n"
	halves := make([]string, 0, 8)
	for i := 1; i < 8; i++ { // 1.0.0.0/8, 2.0.0.0/7, …, 128.0.0.0/1: all but 0/8
		halves = append(halves, fmt.Sprintf("%q", fmt.Sprintf("%d.0.0.0/%d", 1<<(i-1), 9-i)))
	}
	halves = append(halves, `"128.0.0.0/1"`)
	for _, list := range []string{`"128.0.0.0/1"`, `"2000::/3"`, `"10.0.0.0/7"`, `"::ffff:10.0.0.0/103"`, `"2001:db8::/31"`,
		`"0.0.0.0/1", "128.0.0.0/1"`, strings.Join(halves, ", "), `"10.0.0.0/8", "11.0.0.0/8"`} {
		_, err := ParseTopology([]byte(strings.Replace(topo, "%s", list, 1)), "t.yaml")
		if err == nil || !strings.Contains(err.Error(), `t.yaml:3: server "hub1": source address`) || !strings.Contains(err.Error(), "/8") {
			t.Errorf("source_addresses [%s]: %v, want refused at its line (wider than a /8 of IPv4 or /32 of IPv6)", list, err)
		}
	}
	for _, list := range []string{`"10.0.0.0/8"`, `"10.0.0.0/8", "10.1.0.0/16", "10.2.3.4"`, `"2001:db8::/32"`, `"10.0.0.0/8", "2001:db8::/32"`,
		`"::ffff:10.0.0.0/104"`} {
		if _, err := ParseTopology([]byte(strings.Replace(topo, "%s", list, 1)), "t.yaml"); err != nil {
			t.Errorf("source_addresses [%s]: %v, want loaded", list, err)
		}
	}
}
