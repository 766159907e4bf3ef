package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// SR-1, OPS-3 (shadowout48 F5 of an outside check): behind address
// translation (server.address_translated: true) this server's
// connections reach its peers from another address than the one the
// topology gives it, and a peer knows a transport server on an externally
// secured connector by that address or its source_addresses only. With
// none listed, config check (and the start) said ok, and every message
// this server relayed went without a shadow copy. It warns, at the line
// of server.address_translated, unless the topology lists
// source_addresses for this server or every peer is reached with a login.
func TestConfigCheckWarnsOfTranslatedServerWithoutSourceAddresses(t *testing.T) {
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
	const want = `hub.yaml:6: warning: server hubA is behind address translation (server.address_translated) and the topology`
	for _, c := range []struct {
		name, topoSources, send string
		warn                    bool
	}{
		{"no source_addresses", "", "", true},
		{"source_addresses listed", `, source_addresses: ["127.0.9.0/24"]`, "", false},
		{"every peer reached with a login", "", `send_connectors:
  - name: to-hubB
    address_spaces: [{domain: "hubb.corp.test", cost: 1}]
    smart_hosts: ["127.0.2.1:2525"]
    tls: required
    auth: {username: hubA, password_file: ` + filepath.Join(dir, "pw") + `}
`, false},
	} {
		os.WriteFile(filepath.Join(dir, "pw"), []byte("secret\n"), 0o600)
		os.WriteFile(topo, []byte(fmt.Sprintf(topoText, c.topoSources)), 0o600)
		os.WriteFile(cfg, []byte(fmt.Sprintf(`server:
  name: hubA
  role: hub
  data_dir: %s
  metrics_listen: ""
  address_translated: true
accepted_domains: [{domain: corp.test, type: authoritative, recipient_validation: "off"}]
receive_connectors:
  - name: in
    bindings: ["127.0.1.1:2525"]
    remote_ranges: ["127.0.0.0/8"]
    permissions: {anonymous: [submit]}
%smailbox: {maildir: maildir}
topology: %s
`, filepath.Join(dir, "data"), c.send, topo)), 0o600)
		out, err := exec.Command(umbraBin, "config", "check", cfg).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: config check: %v\n%s", c.name, err, out)
		}
		warned := strings.Contains(string(out), "behind address translation (server.address_translated)")
		if c.warn && (!strings.Contains(string(out), want) || !strings.Contains(string(out), "source_addresses") || !strings.Contains(string(out), "XSHADOW")) {
			t.Errorf("%s: want %q in:\n%s", c.name, want, out)
		}
		if !c.warn && warned {
			t.Errorf("%s: warned:\n%s", c.name, out)
		}
	}
}
