package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// SR-1, SR-5 (rt27a F4): the topology lists the edge at its internet
// connector's address, which offers no XSHADOW to transport servers (the
// hubs' connector, which does, listens on another port). Its peers'
// heartbeats there fail with "peer does not offer XSHADOW", and they take
// its copies over while it runs. config check warns, at the connector's
// binding, naming the topology address and the connector that offers
// the shadow verbs.
func TestConfigCheckWarnsTopologyAddressWithoutShadowVerbs(t *testing.T) {
	dir := t.TempDir()
	topo := filepath.Join(dir, "topology.yaml")
	os.WriteFile(topo, []byte(`sites: [{name: s1}]
servers:
  - {name: edge1, role: edge, site: s1, address: "127.0.0.131:8401"}
  - {name: hub1, role: hub, site: s1, address: "127.0.0.132:8401"}
`), 0o600)
	cfg := filepath.Join(dir, "edge.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`server:
  name: edge1
  role: edge
  data_dir: %s
  metrics_listen: ""
accepted_domains: [{domain: corp.test, type: internal_relay}]
receive_connectors:
  - name: internet
    bindings: ["127.0.0.131:8401"]
    permissions: {anonymous: [submit]}
  - name: hubs
    bindings: ["127.0.0.131:8403"]
    remote_ranges: ["127.0.0.0/8"]
    externally_secured: true
    permissions: {servers: [submit, relay, accept-xshadow]}
topology: %s
`, filepath.Join(dir, "data"), topo)), 0o600)
	out, _ := exec.Command(umbraBin, "config", "check", cfg).CombinedOutput()
	found := false
	for _, line := range strings.Split(string(out), "\n") {
		found = found || strings.Contains(line, "warning:") && strings.Contains(line, "XSHADOW") && strings.Contains(line, "127.0.0.131:8401") && strings.Contains(line, `"hubs"`)
	}
	if !found {
		t.Errorf("config check is silent about the topology address 127.0.0.131:8401, where no connector offers XSHADOW to transport servers:\n%s", out)
	}
}

// SR-1, SR-5 (shadow28 item 3): an edge of the topology with shadow
// redundancy on none of whose receive connectors offers the shadow
// verbs at all: every peer's shadow session and heartbeat fails there
// ("peer does not offer XSHADOW"), its relays here keep no copy, and a
// peer that kept copies for it takes them over while it runs. config
// check warned only when another connector offered them; now it warns
// of this one too, naming the topology address.
func TestConfigCheckWarnsTransportServerWithoutShadowVerbs(t *testing.T) {
	dir := t.TempDir()
	topo := filepath.Join(dir, "topology.yaml")
	os.WriteFile(topo, []byte(`sites: [{name: s1}]
servers:
  - {name: edge1, role: edge, site: s1, address: "127.0.0.141:9401"}
  - {name: hub1, role: hub, site: s1, address: "127.0.0.142:9401"}
`), 0o600)
	cfg := filepath.Join(dir, "edge.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`server:
  name: edge1
  role: edge
  data_dir: %s
  metrics_listen: ""
accepted_domains: [{domain: corp.test, type: internal_relay}]
receive_connectors:
  - name: internet
    bindings: ["127.0.0.141:9401"]
    permissions: {anonymous: [submit]}
topology: %s
`, filepath.Join(dir, "data"), topo)), 0o600)
	out, _ := exec.Command(umbraBin, "config", "check", cfg).CombinedOutput()
	found := false
	for _, line := range strings.Split(string(out), "\n") {
		found = found || strings.Contains(line, "warning:") && strings.Contains(line, "XSHADOW") && strings.Contains(line, "127.0.0.141:9401") &&
			strings.Contains(line, "no receive connector")
	}
	if !found {
		t.Errorf("config check is silent about a transport server none of whose connectors offers XSHADOW:\n%s", out)
	}
}
