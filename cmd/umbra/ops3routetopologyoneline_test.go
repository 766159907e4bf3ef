package main

import (
	"strings"
	"testing"
)

// OPS-3: the change writes the topology's path
// through config.ShownPath in route explain's refusal of a configuration
// serve refuses (route.go ~169), but the next refusal in the same
// command, an unknown --server (route.go:175), still writes it raw: a
// topology path with a newline (topology: of the configuration, the
// default of --topology) forges a line of route explain's error.
func TestOPS3RouteExplainUnknownServerTopologyPathForgesNoLine(t *testing.T) {
	dir := t.TempDir()
	cfg := topologyHub(t, dir, "hub.ops3.test", "topo\nFAKE9: forged.yaml", "sites: [{name: a}]\nservers:\n  - {name: hub.ops3.test, role: hub, site: a, address: \"127.0.0.122:7122\"}\n", "127.0.0.122:7122")
	out, _, code := runBounded(t, "route", "explain", "-c", cfg, "--server", "nosuch", "y@example.test")
	if code != exitNotFound {
		t.Errorf("route explain --server nosuch: exit %d:\n%s", code, out)
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "FAKE9") {
			t.Errorf("route explain: the topology path's newline forged the line %q:\n%s", l, out)
		}
	}
}
