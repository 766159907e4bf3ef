package config

import (
	"strings"
	"testing"
)

// RT-12, OPS-3: with decodeAll a value that does not decode is left out
// and the rest validated, but the errors that follow only from the
// value left out are reported as independent ones (and untrue: a
// server "of version 1" whose version was written as a list; names
// "unknown" that the file does define, in a value that did not
// decode). config check must give only the decode error then.
func TestTopologyValueLeftOutBringsNoDerivedError(t *testing.T) {
	for _, tc := range []struct{ name, text string }{
		{"site name", "sites:\n  - name: s1\n    subnets: [\"10.0.0.0/8\"]\n  - name: [s2]\n    subnets: [\"11.0.0.0/8\"]\n" +
			"site_links:\n  - {name: l1, sites: [s1, s2], cost: 1}\n" +
			"servers:\n  - {name: x, role: hub, site: s1, address: \"10.0.0.1:25\", version: 2}\n  - {name: y, role: hub, site: s2, address: \"11.0.0.2:25\", version: 2}\n"},
		{"server version", "sites:\n  - name: s1\n    subnets: [\"10.0.0.0/8\"]\n" +
			"servers:\n  - {name: x, role: hub, site: s1, address: \"10.0.0.1:25\", version: 2}\n  - {name: m, role: mailbox, site: s1, address: \"10.0.0.2:24\", version: [2]}\n" +
			"mailbox_databases:\n  - {name: DB1, server: m}\nrecipients:\n  - {match: example.com, database: DB1}\n"},
		{"database name", "sites:\n  - name: s1\n    subnets: [\"10.0.0.0/8\"]\n" +
			"servers:\n  - {name: x, role: hub, site: s1, address: \"10.0.0.1:25\", version: 2}\n  - {name: m, role: mailbox, site: s1, address: \"10.0.0.2:24\", version: 2}\n" +
			"mailbox_databases:\n  - {name: [DB1], server: m}\nrecipients:\n  - {match: example.com, database: DB1}\n"},
	} {
		_, err := ParseTopology([]byte(tc.text), "t.yaml")
		if err == nil {
			t.Errorf("%s: accepted", tc.name)
			continue
		}
		if lines := strings.Split(err.Error(), "\n"); len(lines) != 1 {
			t.Errorf("%s: %d errors, want only the value that does not decode:\n%s", tc.name, len(lines), err)
		}
	}
}

// RT-12, OPS-3: what does not follow from the value left out is still
// reported with it in one run: a server's own bad address beside a site
// name that did not decode.
func TestTopologyValueLeftOutKeepsIndependentErrors(t *testing.T) {
	text := "sites:\n  - name: s1\n    subnets: [\"10.0.0.0/8\"]\n  - name: [s2]\n    subnets: [\"11.0.0.0/8\"]\n" +
		"site_links:\n  - {name: l1, sites: [s1, s2], cost: 1}\n" +
		"servers:\n  - {name: x, role: hub, site: s1, address: \"10.0.0.1\", version: 2}\n  - {name: y, role: hub, site: s2, address: \"11.0.0.2:25\", version: 2}\n"
	_, err := ParseTopology([]byte(text), "t.yaml")
	if err == nil || !strings.Contains(err.Error(), "t.yaml:4: sites[1].name") || !strings.Contains(err.Error(), "t.yaml:9: server \"x\": address") {
		t.Errorf("%v; want the decode error at t.yaml:4 and x's address at t.yaml:9", err)
	}
}
