package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ops48 F4: an integer setting past what its Go type holds named the
// type's range, not the setting's: `site_links[0].cost:
// 99999999999999999999` said "a whole number from -9223372036854775808
// to 9223372036854775807" where a site link cost is 1 to 99999. Every
// integer setting with bounds of its own names them, at its line,
// whether the value is merely outside them or past the type too.
func TestOps48IntegerOutOfRangeNamesTheSettingsRange(t *testing.T) {
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
	const huge = "99999999999999999999"
	for _, c := range []struct{ name, old, new, want string }{
		{"site link cost", "cost: 10}", "cost: " + huge + "}", "t.yaml:5: site_links[0].cost: " + huge + " is out of range for this setting (a whole number from 1 to 99999)"},
		{"umbra_cost", "cost: 10}", "cost: 10, umbra_cost: " + huge + "}", "t.yaml:5: site_links[0].umbra_cost: " + huge + " is out of range for this setting (a whole number from 1 to 99999)"},
		{"server version", `{name: hubB, role: hub, address`, `{name: hubB, role: hub, version: ` + huge + `, address`, "t.yaml:8: servers[1].version: " + huge + " is out of range for this setting (a whole number from 1 to 1000)"},
		{"routing group connector cost", "cost: 5}", "cost: -" + huge + "}", "t.yaml:11: routing_group_connectors[0].cost: -" + huge + " is out of range for this setting (a whole number from 1 to 100)"},
		{"address space cost", `cost: 1}]`, `cost: ` + huge + `}]`, "t.yaml:14: send_connectors[0].address_spaces[0].cost: " + huge + " is out of range for this setting (a whole number from 1 to 100)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(base, c.old) {
				t.Fatalf("%q not in base", c.old)
			}
			_, err := ParseTopology([]byte(strings.Replace(base, c.old, c.new, 1)), "t.yaml")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v\nwant %q", err, c.want)
			}
		})
	}

	// A setting of the main configuration: limits.max_recipients.
	dir := t.TempDir()
	cfg := filepath.Join(dir, "umbra.yaml")
	text := "server:\n  data_dir: " + filepath.Join(dir, "data") + "\nreceive_connectors:\n  - name: in\n    bindings: [\"127.0.0.1:2525\"]\n    limits:\n      max_recipients: " + huge + "\n"
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	want := cfg + ":7: receive_connectors[0].limits.max_recipients: " + huge + " is out of range for this setting (a whole number from 1 to 9223372036854775807; 0 or absent: the default)"
	if _, err := Load(cfg); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v\nwant %q", err, want)
	}
}
