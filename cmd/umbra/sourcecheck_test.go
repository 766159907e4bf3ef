package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// config check warns, at the line of the setting that chose it, of a
// source address this hub's relays to the other hubs leave from that the
// topology does not give it: the next hub offers such a connection no
// XSHADOW, so every relay would go without a shadow copy (rt32 F13).
// Said for the address the system picks when no source_address is set,
// and for a server.source_address; not for an address the topology
// gives the server (its address's host, or a source_addresses entry).
func TestConfigCheckWarnsOfSourceOutsideTopology(t *testing.T) {
	dir := t.TempDir()
	topo := filepath.Join(dir, "topology.yaml")
	cfg := filepath.Join(dir, "hub.yaml")
	const topoText = `sites:
  - {name: A, subnets: ["127.0.1.0/24"]}
  - {name: B, subnets: ["127.0.2.0/24"]}
site_links:
  - {name: ab, sites: [A, B], cost: 10}
servers:
  - {name: hubA, role: hub, address: "127.0.1.1:2525"%s}
  - {name: hubB, role: hub, address: "127.0.2.1:2525"}
`
	for _, c := range []struct {
		name, source, topoSources, want string
	}{
		{"chosen by the system", "", "", `hub.yaml:2: warning: the source address of this server's connections to hubB (127.0.2.1:2525) is chosen by the system for it (no source_address is set): 127.0.0.1, which the topology`},
		{"server.source_address", "\n  source_address: 127.0.1.7", "", `hub.yaml:6: warning: the source address of this server's connections to hubB (127.0.2.1:2525) is set to 127.0.1.7`},
		{"the topology address", "\n  source_address: 127.0.1.1", "", ""},
		{"listed in source_addresses", "", `, source_addresses: ["127.0.0.0/24"]`, ""},
	} {
		os.WriteFile(topo, []byte(fmt.Sprintf(topoText, c.topoSources)), 0o600)
		os.WriteFile(cfg, []byte(fmt.Sprintf(`server:
  name: hubA
  role: hub
  data_dir: %s
  metrics_listen: ""%s
accepted_domains: [{domain: corp.test, type: authoritative, recipient_validation: "off"}]
receive_connectors:
  - name: in
    bindings: ["127.0.1.1:2525"]
    remote_ranges: ["127.0.0.0/8"]
    permissions: {anonymous: [submit]}
mailbox: {maildir: maildir}
topology: %s
`, filepath.Join(dir, "data"), c.source, topo)), 0o600)
		out, err := exec.Command(umbraBin, "config", "check", cfg).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: config check: %v\n%s", c.name, err, out)
		}
		warned := strings.Contains(string(out), "warning: the source address of this server's connections")
		if c.want == "" && warned {
			t.Errorf("%s: warned of an address the topology gives the server:\n%s", c.name, out)
		}
		if c.want != "" && (!strings.Contains(string(out), c.want) || !strings.Contains(string(out), "XSHADOW")) {
			t.Errorf("%s: want %q in:\n%s", c.name, c.want, out)
		}
	}
}
