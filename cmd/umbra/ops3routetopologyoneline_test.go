package main

import (
	"os"
	"path/filepath"
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
	topo := filepath.Join(dir, "topo\nFAKE9: forged.yaml")
	if err := os.WriteFile(topo, []byte("sites: [{name: a}]\nservers:\n  - {name: hub.ops3.test, role: hub, site: a, address: \"127.0.0.122:37122\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "hub.yaml")
	os.WriteFile(cfg, []byte(`server: {name: hub.ops3.test, data_dir: `+filepath.Join(dir, "data")+`, metrics_listen: ""}
accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: "off"}]
mailbox: {maildir: `+filepath.Join(dir, "md")+`}
topology: "`+strings.ReplaceAll(topo, "\n", `\n`)+`"
`+submitConnector("in", "127.0.0.122:37122")), 0o600)
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
