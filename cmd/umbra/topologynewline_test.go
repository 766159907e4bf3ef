package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// OPS-3: the README says every path a refusal names that holds a
// control character ("any other") is quoted on the one line of its
// error, never forging a line nor splitting one --json error into
// several; config/doc.go says "An Error is one line". The topology
// file's own errors begin with its name (config.Error.File), which
// oneLine and shownValue leave raw: a topology path with a newline
// forges a line of config check and serve and splits the --json error.
func TestOPS3TopologyPathWithANewlineForgesNoLine(t *testing.T) {
	dir := t.TempDir()
	cfg := topologyHub(t, dir, "hub.ops3.test", "topo\nFAKE9: forged.yaml", "servers: [\n", "127.0.0.141:9141")
	forged := func(what, out string) {
		t.Helper()
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "FAKE9") {
				t.Errorf("%s: the topology path's newline forged the line %q:\n%s", what, l, out)
				return
			}
		}
	}
	out, _, code := runBounded(t, "config", "check", cfg)
	if code != exitConfig {
		t.Errorf("config check: exit %d:\n%s", code, out)
	}
	forged("config check", out)
	_, js, _ := runBounded(t, "config", "check", "--json", cfg)
	var res configCheckResult
	if err := json.Unmarshal([]byte(js), &res); err != nil {
		t.Fatalf("config check --json: %v\n%s", err, js)
	}
	for _, e := range res.Errors {
		if strings.HasPrefix(e, "FAKE9") {
			t.Errorf("config check --json: one error split into several: %q", res.Errors)
			break
		}
	}
	out, _, _ = runBounded(t, "serve", "-c", cfg)
	forged("serve", out)
}

// topologyHub writes in dir a topology file named topoName holding text,
// and hub.yaml: the server named server, its topology: that file (a
// newline in the name written as \n), one submission connector at bind.
// It returns the configuration's path.
func topologyHub(t *testing.T, dir, server, topoName, text, bind string) string {
	t.Helper()
	topo := filepath.Join(dir, topoName)
	cfg := filepath.Join(dir, "hub.yaml")
	if err := os.WriteFile(topo, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte(`server: {name: `+server+`, data_dir: `+filepath.Join(dir, "data")+`, metrics_listen: ""}
accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: "off"}]
mailbox: {maildir: `+filepath.Join(dir, "md")+`}
topology: "`+strings.ReplaceAll(topo, "\n", `\n`)+`"
`+submitConnector("in", bind)), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}
