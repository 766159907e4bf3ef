package config

import (
	"strings"
	"testing"
)

// A topology send connector's smart hosts are checked as the
// configuration file's are, by the same check, at their line: a typo in
// the one file every server reads is refused by config check, at start
// and on reload, not found by mail waiting in retry until it expires.
func TestTopologySmartHostsValidated(t *testing.T) {
	const topo = `sites:
  - {name: A, subnets: ["127.0.1.0/24"]}
servers:
  - {name: hubA, role: hub, address: "127.0.1.1:25"}
send_connectors:
  - name: out
    address_spaces: [{domain: "*", cost: 1}]
    source_servers: [hubA]
    smart_hosts: ["127.0.3.8:25", "SMART"]
`
	file := "server: {name: h.example, data_dir: " + t.TempDir() + "}\nreceive_connectors:\n  - name: x\n    bindings: [\"127.0.0.1:25\"]\n" +
		"send_connectors:\n  - name: s\n    address_spaces: [{domain: \"*\"}]\n    smart_hosts: [\"127.0.3.8:25\", \"SMART\"]\n"
	for _, good := range []string{"relay.example", "relay.example:587", "127.0.3.9", "[::1]:25"} {
		if _, err := ParseTopology([]byte(strings.Replace(topo, "SMART", good, 1)), "t.yaml"); err != nil {
			t.Errorf("smart host %q refused: %v", good, err)
		}
	}
	for _, bad := range []string{"127.32.0.9:5902x", "127.32.0.9.:59026", "0x7f200009:59026", "127.32.0.9:0", "127.32.0.9:99999",
		"127.32.0.9 59026", "bad_host!:25", "", ":25", "127.32.0.9:59026:1", "999.1.1.1"} {
		_, ferr := Parse([]byte(strings.Replace(file, "SMART", bad, 1)), "c.yaml")
		if ferr == nil {
			t.Fatalf("the configuration file takes smart host %q", bad)
		}
		_, err := ParseTopology([]byte(strings.Replace(topo, "SMART", bad, 1)), "t.yaml")
		if err == nil {
			t.Errorf("topology smart host %q accepted", bad)
			continue
		}
		// The same words as the configuration file's, at the line.
		want := strings.TrimPrefix(ferr.Error(), "c.yaml:8: ")
		if !strings.Contains(err.Error(), "t.yaml:9: ") || !strings.Contains(err.Error(), want) {
			t.Errorf("topology smart host %q: %v\nwant t.yaml:9: and %q", bad, err, want)
		}
	}
}

// A topology server's address and mailbox.lmtp are addresses umbra
// connects to: a listener's forms (no host, port 0) are refused at their
// line, as a bad port or host already was.
func TestDialAddressesNeedHostAndPort(t *testing.T) {
	const topo = `sites:
  - {name: A, subnets: ["127.0.1.0/24"]}
servers:
  - {name: hubA, role: hub, address: "127.0.1.1:25"}
  - {name: hubB, role: hub, site: A, address: "ADDR"}
`
	file := "server: {name: h.example, data_dir: " + t.TempDir() + "}\nreceive_connectors:\n  - name: x\n    bindings: [\"127.0.0.1:25\"]\nmailbox:\n  lmtp: \"ADDR\"\n"
	for _, good := range []string{"127.0.1.2:25", "hub.example:2525", "[::1]:24"} {
		if _, err := ParseTopology([]byte(strings.Replace(topo, "ADDR", good, 1)), "t.yaml"); err != nil {
			t.Errorf("server address %q refused: %v", good, err)
		}
		if _, err := Parse([]byte(strings.Replace(file, "ADDR", good, 1)), "c.yaml"); err != nil {
			t.Errorf("mailbox.lmtp %q refused: %v", good, err)
		}
	}
	for _, bad := range []string{":25", "127.0.1.2:0", "127.0.1.2:00", "127.0.1.2", "127.0.1.2.:25"} {
		if _, err := ParseTopology([]byte(strings.Replace(topo, "ADDR", bad, 1)), "t.yaml"); err == nil || !strings.Contains(err.Error(), "t.yaml:5: ") {
			t.Errorf("server address %q: %v", bad, err)
		}
		if _, err := Parse([]byte(strings.Replace(file, "ADDR", bad, 1)), "c.yaml"); err == nil || !strings.Contains(err.Error(), "c.yaml:6: ") {
			t.Errorf("mailbox.lmtp %q: %v", bad, err)
		}
	}
}
