package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// config check refuses, at the topology file's line and under the
// topology's own label (not the recipient directory's), a topology with
// two servers at one address (a hub then relayed to itself and the
// message vanished) and one that gives this server another role than
// its server.role.
func TestConfigCheckRefusesTopologyRules(t *testing.T) {
	dir := t.TempDir()
	topo := filepath.Join(dir, "topology.yaml")
	cfg := filepath.Join(dir, "hub.yaml")
	write := func(role string) {
		os.WriteFile(cfg, []byte(fmt.Sprintf(`server: {name: hubA, role: %s, data_dir: %s, metrics_listen: ""}
accepted_domains: [{domain: corp.test, type: authoritative, recipient_validation: "off"}]
receive_connectors:
  - name: in
    bindings: ["127.0.1.1:2525"]
    remote_ranges: ["127.0.0.0/8"]
    permissions: {anonymous: [submit]}
mailbox: {maildir: maildir}
topology: %s
`, role, filepath.Join(dir, "data"), topo)), 0o600)
	}
	const good = `sites:
  - {name: A, subnets: ["127.0.1.0/24"]}
  - {name: B, subnets: ["127.0.2.0/24"]}
site_links:
  - {name: ab, sites: [A, B], cost: 10}
servers:
  - {name: hubA, role: hub, address: "127.0.1.1:2525"}
  - {name: hubB, role: hub, address: "127.0.2.1:2525"}
`
	write("hub")
	os.WriteFile(topo, []byte(good), 0o600)
	if out, err := exec.Command(umbraBin, "config", "check", cfg).CombinedOutput(); err != nil {
		t.Fatalf("config check of a good topology: %v\n%s", err, out)
	}
	for _, c := range []struct {
		name, topo, role, want string
	}{
		{"duplicate address", strings.Replace(good, `{name: hubB, role: hub, address: "127.0.2.1:2525"}`, `{name: hubB, role: hub, site: B, address: "127.0.1.1:2525"}`, 1), "hub",
			`topology.yaml:8: server "hubB" has the address 127.0.1.1:2525 of server "hubA"`},
		{"role mismatch", strings.Replace(good, `{name: hubA, role: hub,`, "{name: hubA2, role: hub, address: \"127.0.1.2:2525\"}\n  - {name: hubA, role: edge,", 1), "hub",
			`topology.yaml:8: the topology gives server "hubA" the role edge, but its server.role is hub`},
	} {
		os.WriteFile(topo, []byte(c.topo), 0o600)
		write(c.role)
		out, err := exec.Command(umbraBin, "config", "check", cfg).CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitConfig || !strings.Contains(string(out), c.want) {
			t.Fatalf("%s: %v\n%s", c.name, err, out)
		}
		if strings.Contains(string(out), "recipient directory") || !strings.Contains(string(out), "the topology "+topo+" is not valid") {
			t.Errorf("%s: labelled wrong:\n%s", c.name, out)
		}
	}
}

// route explain without a topology applies the chosen send connector's
// max_message_size as delivery does (552 5.3.4); it refuses addresses no
// client could give and negative sizes; its JSON always has copies.
func TestRouteExplainAgreesWithDelivery(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "umbra.yaml")
	os.WriteFile(cfg, []byte(`server: {name: mx.a.test}
accepted_domains: [{domain: a.test, recipient_validation: off}]
mailbox: {maildir: `+filepath.Join(filepath.Dir(cfg), "maildir")+`}
receive_connectors: [{name: in, bindings: ["127.0.0.1:2525"]}]
send_connectors:
  - {name: small, address_spaces: [{domain: "*", cost: 5}], smart_hosts: ["127.0.0.1:2600"], max_message_size: 1000}
`), 0o600)
	out, err := exec.Command(umbraBin, "route", "explain", "--config", cfg, "--json", "--size", "5000", "x@ext.test").Output()
	var ex routeExplanation
	if err != nil || json.Unmarshal(out, &ex) != nil || len(ex.Routes) != 1 {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.HasPrefix(ex.Routes[0].NDR, "552 5.3.4 message size 5000 exceeds the limit 1000 of send connector small") {
		t.Errorf("over the connector's limit: %+v", ex.Routes[0])
	}
	if !strings.Contains(string(out), `"copies":[]`) && !strings.Contains(string(out), `"copies": []`) {
		t.Errorf("no copies list in the JSON:\n%s", out)
	}
	if out, err := exec.Command(umbraBin, "route", "explain", "--config", cfg, "--size", "500", "x@ext.test").Output(); err != nil || strings.Contains(string(out), "bounce") {
		t.Errorf("under the limit: %v\n%s", err, out)
	}
	// A trailing-dot domain is taken as RCPT takes it (TestRouteExplainChecksRecipient).
	for _, bad := range [][]string{{"u@"}, {"@d.test"}, {"--size", "-1", "u@d.test"}} {
		err := exec.Command(umbraBin, append([]string{"route", "explain", "--config", cfg}, bad...)...).Run()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitUsage {
			t.Errorf("route explain %v: %v, want exit %d", bad, err, exitUsage)
		}
	}
}
