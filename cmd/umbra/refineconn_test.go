package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"umbra/internal/config"
)

// rt17f-F2 (RT-, OPS-): under a topology, a configuration file's send
// connector named as a topology connector only refines it; the
// topology's address spaces decide, so the file's connector needs none.
// One that writes some is warned of at their line: they are not used.
func TestRefiningConnectorNeedsNoAddressSpaces(t *testing.T) {
	dir := t.TempDir()
	topo := filepath.Join(dir, "topology.yaml")
	os.WriteFile(topo, []byte(`sites:
  - {name: a}
servers:
  - {name: hub-a, role: hub, site: a, address: "127.0.0.1:2525"}
send_connectors:
  - {name: out, source_servers: [hub-a], address_spaces: [{domain: "*", cost: 1}]}
`), 0o600)
	file := filepath.Join(dir, "umbra.yaml")
	parse := func(conn string) (*config.Config, error) {
		data := "server: {name: hub-a, role: hub}\ntopology: " + topo +
			"\nreceive_connectors:\n  - {name: org, bindings: [\"127.0.0.111:3001\"]}\nsend_connectors:\n" + conn
		os.WriteFile(file, []byte(data), 0o600)
		return config.Parse([]byte(data), file)
	}
	if _, err := parse("  - name: out\n    port: 2526\n"); err != nil {
		t.Fatalf("a connector refining the topology's, without address spaces: %v", err)
	}
	cfg, err := parse("  - name: out\n    port: 2526\n    address_spaces:\n      - {domain: example.org, cost: 1}\n")
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(unusedSendConnectors(cfg, topologyOf(cfg)), "\n")
	if !strings.Contains(got, "umbra.yaml:8") || !strings.Contains(got, "address spaces decide") {
		t.Fatalf("warnings %q: want the file's address spaces warned of at their line (8), the topology's deciding", got)
	}
}
