package config

import (
	"strings"
	"testing"
)

// rr35 opsshadow: a server's role that did not decode makes "the role
// of that server" unknown, not every other server's. A database on a
// server whose role decoded as hub is an error of its own, whichever
// other server's role was left out: config check must give it in the
// same run as the decode error (every independent error in one run).
func TestOPSRoleLeftOutHidesNoOtherServersRoleError(t *testing.T) {
	text := "sites:\n  - name: s1\n    subnets: [\"10.0.0.0/8\"]\n" +
		"servers:\n  - {name: x, role: hub, site: s1, address: \"10.0.0.1:25\", version: 2}\n" +
		"  - {name: m, role: mailbox, site: s1, address: \"10.0.0.2:24\", version: 2}\n" +
		"  - {name: z, role: [mailbox], site: s1, address: \"10.0.0.3:24\", version: 2}\n" +
		"mailbox_databases:\n  - {name: DB1, server: m}\n  - {name: DB2, server: x}\n" +
		"recipients:\n  - {match: example.com, database: DB1}\n"
	_, err := ParseTopology([]byte(text), "t.yaml")
	if err == nil {
		t.Fatal("accepted")
	}
	if !strings.Contains(err.Error(), "t.yaml:7: servers[2].role") {
		t.Errorf("no decode error for z's role at t.yaml:7:\n%s", err)
	}
	if !strings.Contains(err.Error(), `database "DB2" is on "x", a hub server`) {
		t.Errorf("DB2 on the hub x is not reported beside z's role that did not decode:\n%s", err)
	}
}

// The same for a routing group connector's bridgehead: an edge server
// named as bridgehead is not a hub, whichever other server's role did
// not decode.
func TestOPSRoleLeftOutHidesNoBridgeheadError(t *testing.T) {
	text := "sites:\n  - name: s1\n    subnets: [\"10.0.0.0/8\"]\n" +
		"servers:\n  - {name: x, role: hub, site: s1, address: \"10.0.0.1:25\", version: 2}\n" +
		"  - {name: e, role: edge, site: s1, address: \"10.0.0.4:25\", version: 2}\n" +
		"  - {name: z, role: [mailbox], site: s1, address: \"10.0.0.3:24\", version: 2}\n" +
		"  - {name: old, role: legacy, routing_group: rg1, address: \"10.0.0.5:25\"}\n" +
		"routing_group_connectors:\n  - {name: rgc, groups: [modern, rg1], cost: 1, source_servers: [x, e]}\n"
	_, err := ParseTopology([]byte(text), "t.yaml")
	if err == nil {
		t.Fatal("accepted")
	}
	if !strings.Contains(err.Error(), `bridgehead "e" is a edge server, not a hub`) {
		t.Errorf("the edge bridgehead e is not reported beside z's role that did not decode:\n%s", err)
	}
}

// rr35 opsshadow: a site link's cost that did not decode is no
// identifying value of any entry, and the errors of one entry alone —
// two servers at one address, a name that is not ASCII, a site link
// naming a site twice — do not follow from it: config check gives them
// with the decode error, in one run.
func TestOPSLinkCostLeftOutHidesNoEntrysOwnError(t *testing.T) {
	text := "sites:\n  - name: s1\n    subnets: [\"10.0.0.0/8\"]\n  - name: s2\n    subnets: [\"11.0.0.0/8\"]\n" +
		"site_links:\n  - {name: l1, sites: [s1, s2], cost: [1]}\n  - {name: l2, sites: [s1, S1], cost: 1}\n" +
		"servers:\n  - {name: x, role: hub, site: s1, address: \"10.0.0.1:25\", version: 2}\n" +
		"  - {name: y, role: hub, site: s2, address: \"10.0.0.1:25\", version: 2}\n" +
		"  - {name: hüb, role: hub, site: s2, address: \"11.0.0.3:25\", version: 2}\n"
	_, err := ParseTopology([]byte(text), "t.yaml")
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		"t.yaml:7: site_links[0].cost",
		`server "y" has the address 10.0.0.1:25 of server "x"`,
		`server name "hüb": names must be ASCII`,
		`site link "l2" names site "s1" twice`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q beside the link cost that did not decode:\n%s", want, err)
		}
	}
}

// rr-opsrt38 F4: a role that decoded but is none of hub, edge, mailbox
// or legacy (a typo: mailbx) is refused at its line; what follows only
// from it — a database on that server, a bridgehead that is that
// server, "a mailbx server" — is not said again as errors of their own
// (it would blame the database's or the connector's line for the
// role's typo). Those of a server whose role is valid still are.
func TestOPSRoleTypoAddsNoDerivedErrors(t *testing.T) {
	text := "sites:\n  - name: s1\n    subnets: [\"10.0.0.0/8\"]\n" +
		"servers:\n  - {name: x, role: hub, site: s1, address: \"10.0.0.1:25\", version: 2}\n" +
		"  - {name: m, role: mailbx, site: s1, address: \"10.0.0.2:24\", version: 2}\n" +
		"  - {name: b, role: hubb, site: s1, address: \"10.0.0.3:25\", version: 2}\n" +
		"  - {name: old, role: legacy, routing_group: rg1, address: \"10.0.0.5:25\"}\n" +
		"mailbox_databases:\n  - {name: DB1, server: m}\n  - {name: DB2, server: x}\n" +
		"routing_group_connectors:\n  - {name: rgc, groups: [modern, rg1], cost: 1, source_servers: [x, b]}\n" +
		"recipients:\n  - {match: example.com, database: DB1}\n"
	_, err := ParseTopology([]byte(text), "t.yaml")
	if err == nil {
		t.Fatal("accepted")
	}
	for _, w := range []string{`t.yaml:6: server role must be hub, edge, mailbox or legacy, not "mailbx"`,
		`t.yaml:7: server role must be hub, edge, mailbox or legacy, not "hubb"`, `database "DB2" is on "x", a hub server`} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("no %q in:\n%s", w, err)
		}
	}
	for _, w := range []string{"a mailbx server", "a hubb server"} {
		if strings.Contains(err.Error(), w) {
			t.Errorf("an error derived from the role's typo (%q) in:\n%s", w, err)
		}
	}
}
