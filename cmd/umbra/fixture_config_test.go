package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Configuration and topology files of tests: writing them, their
// common sections, and changing them.

// writeConfig writes cfg as dir/umbra.yaml and returns its path.
func writeConfig(t testing.TB, dir, cfg string) string {
	t.Helper()
	path := filepath.Join(dir, "umbra.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// appendConfig adds text (whole sections) at the end of a configuration
// file.
func appendConfig(t testing.TB, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

// pickupRelayConfig is relayConfig's file with a pickup directory,
// pick, looked at every 100 ms.
func pickupRelayConfig(t testing.TB, dir, listen, sinkAddr, pick string) string {
	t.Helper()
	cfg := relayConfig(t, dir, listen, sinkAddr)
	appendConfig(t, cfg, "pickup: {directory: "+pick+", interval: 100ms}\n")
	return cfg
}

// submitConnector is a receive_connectors section of one connector,
// name, that takes mail for the server's own domains from loopback at
// listen (anonymous submit), with the further lines given (each one key
// of the connector).
func submitConnector(name, listen string, lines ...string) string {
	s := fmt.Sprintf("receive_connectors:\n  - name: %s\n    bindings: [%q]\n    remote_ranges: [\"127.0.0.0/8\"]\n    permissions: {anonymous: [submit]}\n", name, listen)
	for _, l := range lines {
		s += "    " + l + "\n"
	}
	return s
}

// twoHubsOfOneSite writes dir/topology.yaml: hub1 at 127.0.63.17:2525
// and hub2 at 127.0.63.18:2525, of site a (127.0.63.0/24); hub1's
// address is on its line 4. It returns the file's path.
func twoHubsOfOneSite(t testing.TB, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "topology.yaml")
	if err := os.WriteFile(path, []byte(`sites:
  - {name: a, subnets: ["127.0.63.0/24"]}
servers:
  - {name: hub1, role: hub, address: "127.0.63.17:2525"}
  - {name: hub2, role: hub, address: "127.0.63.18:2525"}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
