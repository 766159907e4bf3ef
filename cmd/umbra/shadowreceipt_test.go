package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// shadow_on_receipt where the topology gives no candidate for the
// preference (local-only on the only hub of its site, remote-only with
// no other site, any of them without a topology) copies nothing: with
// reject_on_shadow_failure every message gets 451 for ever, so config
// check refuses it at the connector's line; without, every message is
// held on one disk, so config check warns there (rt21 F7).
func TestConfigCheckShadowOnReceiptWithoutCandidate(t *testing.T) {
	dir := t.TempDir()
	topo := filepath.Join(dir, "topology.yaml")
	os.WriteFile(topo, []byte(`sites:
  - {name: A, subnets: ["127.0.1.0/24"]}
  - {name: B, subnets: ["127.0.2.0/24"]}
site_links:
  - {name: ab, sites: [A, B], cost: 10}
servers:
  - {name: hubA, role: hub, address: "127.0.1.1:2525"}
  - {name: hubB, role: hub, address: "127.0.2.1:2525"}
`), 0o600)
	cfg := filepath.Join(dir, "hub.yaml")
	for _, c := range []struct {
		pref     string
		reject   bool
		topology bool
		want     string // "" ok without warning
		rc       int
	}{
		{"prefer-remote", true, true, "", 0},
		{"remote-only", true, true, "", 0},
		{"local-only", false, true, "hub.yaml:10: warning: receive connector in: shadow_on_receipt: local-only", 0},
		{"local-only", true, true, "hub.yaml:10: receive connector in: shadow_on_receipt: local-only", exitConfig},
		{"prefer-remote", false, false, "hub.yaml:10: warning: receive connector in: shadow_on_receipt: prefer-remote", 0},
		{"remote-only", true, false, "hub.yaml:10: receive connector in: shadow_on_receipt: remote-only", exitConfig},
		// Shadow redundancy off: the setting is inert, whatever the topology.
		{"remote-only", true, true, "hub.yaml:10: warning: receive connector in: shadow_on_receipt: remote-only does nothing while transport.shadow_redundancy_enabled is false", 0},
	} {
		top := ""
		if c.topology {
			top = "topology: " + topo
		}
		if strings.Contains(c.want, "shadow_redundancy_enabled") {
			top += "\ntransport: {shadow_redundancy_enabled: false}"
		}
		os.WriteFile(cfg, []byte(fmt.Sprintf(`server: {name: hubA, role: hub, data_dir: %s, metrics_listen: ""}
accepted_domains: [{domain: corp.test, type: authoritative, recipient_validation: off}]
mailbox: {maildir: maildir}
receive_connectors:
  - name: in
    bindings: ["127.0.1.1:2525"]
    remote_ranges: ["127.0.0.0/8"]
    permissions: {anonymous: [submit]}
    reject_on_shadow_failure: %v
    shadow_on_receipt: %s
%s
`, filepath.Join(dir, "data"), c.reject, c.pref, top)), 0o600)
		out, err := exec.Command(umbraBin, "config", "check", cfg).CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		label := fmt.Sprintf("%s reject=%v topology=%v", c.pref, c.reject, c.topology)
		if code != c.rc {
			t.Errorf("%s: exit %d, want %d\n%s", label, code, c.rc, out)
		}
		if c.want == "" && strings.Contains(string(out), "shadow_on_receipt") || c.want != "" && !strings.Contains(string(out), c.want) {
			t.Errorf("%s: output\n%s\nwant %q", label, out, c.want)
		}
	}
}

// SR-7, SR-17 (rt32a F1): a hub that the topology gives no other hub
// has no shadow server for the copies it makes again but the one that
// lost them (an edge back with a new transport database), and none for a
// message it took over: config check warns at the topology line. With a
// second hub, or on the edge (its site's hub keeps its copies), nothing.
func TestConfigCheckWarnsPrimaryWithoutHubForCopiesMadeAgain(t *testing.T) {
	dir := t.TempDir()
	topo := filepath.Join(dir, "topology.yaml")
	cfg := filepath.Join(dir, "umbra.yaml")
	for _, c := range []struct {
		name, role, servers string
		warn                bool
	}{
		{"hub1", "hub", `  - {name: edge, role: edge, site: s1, address: "127.0.0.191:7001"}
  - {name: hub1, role: hub, site: s1, address: "127.0.0.192:7001"}`, true},
		{"edge", "edge", `  - {name: edge, role: edge, site: s1, address: "127.0.0.191:7001"}
  - {name: hub1, role: hub, site: s1, address: "127.0.0.192:7001"}`, false},
		{"hub1", "hub", `  - {name: edge, role: edge, site: s1, address: "127.0.0.191:7001"}
  - {name: hub1, role: hub, site: s1, address: "127.0.0.192:7001"}
  - {name: hub2, role: hub, site: s1, address: "127.0.0.193:7001"}`, false},
		{"hub1", "hub", `  - {name: hub1, role: hub, site: s1, address: "127.0.0.192:7001"}`, false}, // alone: no shadow copies
	} {
		os.WriteFile(topo, []byte("sites: [{name: s1}]\nservers:\n"+c.servers+"\n"), 0o600)
		os.WriteFile(cfg, []byte(fmt.Sprintf(`server: {name: %s, role: %s, data_dir: %s, metrics_listen: ""}
topology: %s
receive_connectors:
  - name: org
    bindings: ["%s"]
    remote_ranges: ["127.0.0.0/8"]
    externally_secured: true
    permissions: {anonymous: [submit], servers: [submit, relay, accept-xshadow]}
`, c.name, c.role, filepath.Join(dir, "data"), topo, map[string]string{"edge": "127.0.0.191:7001", "hub1": "127.0.0.192:7001"}[c.name])), 0o600)
		out, err := exec.Command(umbraBin, "config", "check", cfg).CombinedOutput()
		label := fmt.Sprintf("%s in %d servers", c.name, strings.Count(c.servers, "name:"))
		if err != nil {
			t.Errorf("%s: %v\n%s", label, err, out)
		}
		const want = "umbra.yaml:2: warning: the topology"
		if got := strings.Contains(string(out), want) && strings.Contains(string(out), "gives this server no other hub"); got != c.warn {
			t.Errorf("%s: output\n%s\nwant the warning %q: %v", label, out, want, c.warn)
		}
	}
}
