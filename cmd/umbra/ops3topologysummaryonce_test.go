package main

import (
	"strings"
	"testing"
)

// OPS-3: config check's summary line names the
// topology through config.ShownPath ("topo\nBAD.yaml", Go's quoting,
// config.go ~408), but the summary is a plain error, which main writes by
// textSafe: the backslash of the quoted \n is doubled, and config check
// says `the topology ".../topo\\nBAD.yaml" is not valid` — a literal
// backslash to the reader — where serve and the error line above it say
// "topo\nBAD.yaml" (README: a control character written once).
func TestOPS3ConfigCheckTopologySummaryEscapedOnce(t *testing.T) {
	dir := t.TempDir()
	cfg := topologyHub(t, dir, "hub.ops3.test", "topo\nBAD.yaml", "servers: [\n", "127.0.0.123:7123")
	for _, args := range [][]string{{"config", "check", cfg}, {"serve", "-c", cfg}} {
		out, _, code := runBounded(t, args...)
		if code != exitConfig {
			t.Errorf("%s: exit %d:\n%s", args[0], code, out)
		}
		if !strings.Contains(out, `topo\nBAD.yaml" is not valid`) || strings.Contains(out, `topo\\n`) {
			t.Errorf("%s: want the topology named once escaped (topo\\nBAD.yaml\" is not valid), got:\n%s", args[0], out)
		}
	}
}

// OPS-3: route explain's refusal of a
// configuration serve refuses (route.go ~168, its message and the
// serverTopology error it wraps by %v, serve.go ~1011) names the topology
// through config.ShownPath, but the refusal is a plain error, which main
// writes by textSafe: `topology ".../topo\\nOK.yaml"` on standard error,
// while --json's error says "topo\nOK.yaml" once.
func TestOPS3RouteExplainRefusalTopologyEscapedOnce(t *testing.T) {
	dir := t.TempDir()
	cfg := topologyHub(t, dir, "hub-zz", "topo\nOK.yaml", "sites: [{name: a}]\nservers:\n  - {name: hub-a, role: hub, site: a, address: \"127.0.0.123:7123\"}\n", "127.0.0.123:7123")
	out, _, code := runBounded(t, "route", "explain", "-c", cfg, "y@example.test")
	if code != exitConfig {
		t.Errorf("route explain: exit %d:\n%s", code, out)
	}
	if !strings.Contains(out, `topo\nOK.yaml" is refused`) || strings.Contains(out, `topo\\n`) {
		t.Errorf("route explain: want the topology named once escaped (topo\\nOK.yaml\"), got:\n%s", out)
	}
}
