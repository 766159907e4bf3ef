package main

import (
	"os"
	"path/filepath"
	"testing"

	"umbra/internal/config"
)

// SR-13 (rt33 F1): the queue keeps a primary's shadow queue under its
// folded name (queue/primaryfold.go): an operator naming it, with no
// message in it yet, in another spelling than the topology's — letter
// case, a final dot — names the same queue, not an unknown one.
func TestSR13ShadowQueueNameAnySpellingOfATopologyServer(t *testing.T) {
	dir := t.TempDir()
	topo := filepath.Join(dir, "topology.yaml")
	if err := os.WriteFile(topo, []byte(`sites:
  - {name: a}
servers:
  - {name: Edge.RT.test, role: edge, site: a, address: "127.0.0.181:44025"}
  - {name: hub1.rt.test, role: hub, site: a, address: "127.0.0.182:44025"}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := config.LoadTopology(topo); err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{Topology: topo}
	check := queueNameChecker(func() *config.Config { return cfg })
	for _, name := range []string{"shadow:Edge.RT.test", "shadow:edge.rt.test", "shadow:EDGE.RT.TEST."} {
		if err := check(name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := check("shadow:other.rt.test"); err == nil {
		t.Error("shadow:other.rt.test: a server the topology does not list was taken")
	}
}
