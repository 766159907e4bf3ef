package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"umbra/internal/config"
)

// With a topology, a configured send connector that no topology connector
// names is reported as unused — except one that logs in to a transport
// server of the topology: every session to that server (pushes, relays,
// heartbeats) goes through it, and deleting it on the warning's word
// would cost every shadow copy. One to another port of that server's
// host is another service and is reported.
func TestUnusedSendConnectorsSparesServerLogins(t *testing.T) {
	dir := t.TempDir()
	topo := filepath.Join(dir, "topology.yaml")
	os.WriteFile(topo, []byte(`sites:
  - {name: a}
servers:
  - {name: hub-a, role: hub, site: a, address: "127.0.0.1:2525"}
  - {name: hub-b, role: hub, site: a, address: "127.0.0.2:2525"}
`), 0o600)
	cfg := &config.Config{Topology: topo, SendConnectors: []config.SendConnector{
		{Name: "to-hub-b", SmartHosts: []string{"127.0.0.2:2525"}, Auth: config.SendAuth{Username: "hub-a"}},
		{Name: "other-service", SmartHosts: []string{"127.0.0.2:2626"}, Auth: config.SendAuth{Username: "partner"}},
		{Name: "no-login", SmartHosts: []string{"127.0.0.2:2525"}},
	}}
	got := strings.Join(unusedSendConnectors(cfg), "\n")
	if strings.Contains(got, `"to-hub-b"`) {
		t.Errorf("the login connector to hub-b is reported unused:\n%s", got)
	}
	for _, name := range []string{`"other-service"`, `"no-login"`} {
		if !strings.Contains(got, name) {
			t.Errorf("%s is not reported unused:\n%s", name, got)
		}
	}
}
