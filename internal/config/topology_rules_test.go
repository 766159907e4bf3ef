package config

import (
	"os"
	"strings"
	"testing"
)

// Each topology below was accepted by config check and then lost mail,
// retried for ever or routed to the wrong server; each is refused at the
// line of the element concerned.
func TestTopologyRulesRefuse(t *testing.T) {
	const base = `sites:
  - {name: A, subnets: ["127.0.1.0/24"]}
  - {name: B, subnets: ["127.0.2.0/24"]}
site_links:
  - {name: ab, sites: [A, B], cost: 10}
servers:
  - {name: hubA, role: hub, address: "127.0.1.1:25", version: 2}
  - {name: hubB, role: hub, address: "127.0.2.1:25", version: 2}
  - {name: mbxB, role: mailbox, address: "127.0.2.9:24", version: 2}
mailbox_databases:
  - {name: DB1, server: mbxB}
recipients:
  - {match: corp.test, database: DB1}
send_connectors:
  - name: out
    address_spaces: [{domain: "*", cost: 1}]
    source_servers: [hubA]
    smart_hosts: ["127.0.3.8:25"]
`
	cases := []struct {
		name, old, new, want string
		line                 int
	}{
		// F2: a copy-pasted address makes a hub relay to itself.
		{"duplicate address", `{name: hubB, role: hub, address: "127.0.2.1:25"`, `{name: hubB, role: hub, site: B, address: "127.0.1.1:25"`, `has the address 127.0.1.1:25 of server "hubA"`, 8},
		{"unspecified address", `address: "127.0.1.1:25"`, `address: "0.0.0.0:25"`, "unspecified address", 7},
		// F3 (RT-8): mail for a database goes through a hub of its site.
		{"mailbox site without hub", `{name: hubB, role: hub, address: "127.0.2.1:25", version: 2}`, `{name: hubB, role: hub, site: A, address: "127.0.1.2:25", version: 2}`, `mailbox server "mbxB" (version 2) is in site "B", which has no hub of version 2`, 9},
		// F6 (RT-8): of the mailbox server's version.
		{"mailbox site without hub of its version", `{name: mbxB, role: mailbox, address: "127.0.2.9:24", version: 2}`, `{name: mbxB, role: mailbox, address: "127.0.2.9:24", version: 3}`, "no hub of version 3", 9},
		// F4: an edge relays to a hub of its site.
		{"edge without hub", `  - {name: mbxB,`, "  - {name: edgeX, role: edge, site: C, address: \"127.0.4.1:25\"}\n  - {name: mbxB,", `edge server "edgeX" is in site "C", which has no hub`, 9},
		// F5: source servers are hubs or edges.
		{"mailbox source server", `source_servers: [hubA]`, `source_servers: [mbxB]`, `source server "mbxB" is a mailbox server`, 17},
		// A legacy connector scoped to its site is in no site's scope.
		{"legacy connector with site scope", `send_connectors:`, "routing_group_connectors:\n  - {name: rgc, groups: [modern, rg1], source_servers: [hubA]}\nsend_connectors:\n  - {name: x400, address_spaces: [{domain: \"x.test\", cost: 1}], source_servers: [ex2003], scope: site}", "makes it unusable from every site", 18},
		// F9: names, subnets and links that cannot be told apart.
		{"sites differing in case", `{name: B, subnets`, `{name: a, subnets`, `site "a" differs from site "A" only in letter case`, 3},
		{"servers differing in case", `{name: hubB, role: hub`, `{name: HUBA, role: hub`, `server "HUBA" differs from server "hubA" only in letter case`, 8},
		{"non-ASCII name", `{name: B, subnets`, "{name: \"B\u0301\", subnets", "names must be ASCII", 3},
		{"one subnet in two sites", `{name: B, subnets: ["127.0.2.0/24"]}`, `{name: B, subnets: ["127.0.2.0/24", "127.0.1.0/24"]}`, `is already a subnet of site "A"`, 3},
		// rt17 F9: a server given a site its own address contradicts.
		{"site contradicting the subnet", `{name: hubB, role: hub, address: "127.0.2.1:25"`, `{name: hubB, role: hub, site: A, address: "127.0.2.1:25"`, `server "hubB" is given site "A", but its address 127.0.2.1:25 is in a subnet of site "B"`, 8},
		{"self link", `sites: [A, B], cost: 10}`, "sites: [A, B], cost: 10}\n  - {name: aa, sites: [A, A], cost: 1}", `names site "A" twice`, 6},
	}
	if _, err := ParseTopology([]byte(base), "t.yaml"); err != nil {
		t.Fatalf("base topology refused: %v", err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(base, c.old) {
				t.Fatalf("test edit %q not in base", c.old)
			}
			src := strings.Replace(base, c.old, c.new, 1)
			if c.name == "legacy connector with site scope" {
				src = strings.Replace(src, "mailbox_databases:", "  - {name: ex2003, role: legacy, routing_group: rg1}\nmailbox_databases:", 1)
			}
			if c.name == "edge without hub" {
				src = strings.Replace(src, `  - {name: B, subnets: ["127.0.2.0/24"]}`, "  - {name: B, subnets: [\"127.0.2.0/24\"]}\n  - {name: C, subnets: [\"127.0.4.0/24\"]}", 1)
				src = strings.Replace(src, `sites: [A, B], cost: 10}`, `sites: [A, B, C], cost: 10}`, 1)
			}
			_, err := ParseTopology([]byte(src), "t.yaml")
			if err == nil {
				t.Fatalf("accepted:\n%s", src)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q, want %q", err, c.want)
			}
			if c.name != "edge without hub" && !strings.Contains(err.Error(), "t.yaml:"+itoa(c.line)+":") {
				t.Fatalf("error %q, want it at t.yaml:%d", err, c.line)
			}
		})
	}
}

func itoa(n int) string {
	s := ""
	for ; n > 0; n /= 10 {
		s = string(rune('0'+n%10)) + s
	}
	return s
}

// F9: a server whose topology role disagrees with its server.role is
// refused at the server's line in the topology file (serve, SIGHUP and
// config check go through serverTopology, which calls this).
func TestCheckTopologyServerRole(t *testing.T) {
	path := t.TempDir() + "/topo.yaml"
	src := `sites:
  - {name: A, subnets: ["127.0.1.0/24"]}
servers:
  - {name: hubA, role: hub, address: "127.0.1.1:25"}
  - {name: edgeA, role: edge, address: "127.0.1.2:25"}
`
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := CheckTopologyServer(path, "hubA", "hub", []string{"127.0.1.1:25"}); err != nil {
		t.Fatalf("matching role refused: %v", err)
	}
	err := CheckTopologyServer(path, "edgeA", "hub", []string{"127.0.1.2:25"})
	if err == nil || !strings.Contains(err.Error(), path+":5:") || !strings.Contains(err.Error(), `the topology gives server "edgeA" the role edge, but its server.role is hub`) {
		t.Fatalf("mismatched role: %v", err)
	}
}

// rt17 F1, F3, F4: a server.name copied from another server's file, or a
// typo in this server's topology address, leaves no binding of this
// server at its topology address: its peers would send heartbeats
// elsewhere and take its copies over while it runs. Refused at the
// address's line; a wildcard binding on the same port, or an address
// given by host name, is not refused.
func TestCheckTopologyServerAddress(t *testing.T) {
	path := t.TempDir() + "/topo.yaml"
	src := `sites:
  - {name: A, subnets: ["127.0.1.0/24", "::1/128"]}
servers:
  - {name: hubA, role: hub, address: "127.0.1.1:25"}
  - {name: hubB, role: hub, address: "127.0.1.2:25"}
  - {name: hubC, role: hub, address: "[::1]:2525"}
  - {name: hubD, role: hub, address: "hubd.example:25"}
  - {name: hubE, role: hub, address: "192.0.2.7:25"}
  - {name: hubF, role: hub, address: "127.0.0.1:2526"}
`
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name     string
		bindings []string
		line     int // 0: accepted
	}{
		{"hubA", []string{"127.0.0.1:587", "127.0.1.1:25"}, 0},
		{"hubA", []string{"0.0.0.0:25"}, 0},
		{"hubC", []string{"[::]:2525"}, 0},
		{"hubC", []string{"[::1]:2525"}, 0},
		{"hubD", []string{"127.0.1.4:25"}, 0},
		{"hubA", []string{"127.0.1.2:25"}, 4}, // hubB's file with hubA's name
		{"hubB", []string{"127.0.1.3:25"}, 5}, // a typo in the address
		{"hubA", []string{"127.0.1.1:2525"}, 4},
		{"hubA", []string{"0.0.0.0:2525"}, 4},
		{"hubC", []string{"127.0.0.1:2525"}, 6},
		{"hubA", []string{}, 4},
		{"hubB", nil, 0}, // address translated: not compared
		// rt18 F1: a wildcard binding listens on this machine's addresses
		// only, a binding by name on what the name resolves to here.
		{"hubE", []string{"0.0.0.0:25"}, 8}, // not an address of this machine
		{"hubE", []string{":25"}, 8},
		{"hubE", []string{"[::]:25"}, 8},
		{"hubA", []string{"localhost:25"}, 4},
		{"hubF", []string{"localhost:2526"}, 0},
		{"hubF", []string{":2526"}, 0},
	} {
		err := CheckTopologyServer(path, c.name, "hub", c.bindings)
		switch {
		case c.line == 0 && err != nil:
			t.Errorf("%s on %v refused: %v", c.name, c.bindings, err)
		case c.line != 0 && (err == nil || !strings.Contains(err.Error(), path+":"+itoa(c.line)+":") ||
			!strings.Contains(err.Error(), "no receive connector of this server listens there")):
			t.Errorf("%s on %v: %v, want a refusal at line %d", c.name, c.bindings, err, c.line)
		}
	}
}
