package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// rt17e-F3: a configured send connector that writes only send_xshadow
// gives that setting to the topology connector of the same name and
// keeps the topology's smart host (README, send_connectors: what it does
// not write is the topology's). Its mail goes to that smart host, not to
// an MX lookup of the domain, and route explain calls it a smart host.
func TestConfiguredConnectorKeepsTopologySmartHost(t *testing.T) {
	dir := t.TempDir()
	listen, relay := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	topo := filepath.Join(dir, "topology.yaml")
	if err := os.WriteFile(topo, []byte(fmt.Sprintf(`sites:
  - {name: a}
servers:
  - {name: hub-a, role: hub, site: a, address: %q, source_addresses: [127.0.0.1]}
send_connectors:
  - {name: viaalias, address_spaces: [{domain: alias.test, cost: 1}], source_servers: [hub-a], smart_hosts: [%q]}
`, listen, relay)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _ := orgHub(t, dir, "hub-a", listen, topo, "0s", `send_connectors:
  - name: viaalias
    address_spaces: [{domain: alias.test, cost: 1}]
    send_xshadow: true
`)
	if out, code := cli(t, cfg, "route", "explain", "--config", cfg, "r@alias.test"); code != 0 || !strings.Contains(out, "smart host "+relay) {
		t.Errorf("route explain: exit %d, want the connector's smart host named as such:\n%s", code, out)
	}
	sink := startTLSSink(t, relay, "relay.test", nil)
	startUmbra(t, cfg, listen)
	c, err := gosmtp.Dial(listen)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail("a@sender.test", []string{"r@alias.test"}, strings.NewReader("Subject: via alias\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	c.Close()
	for deadline := time.Now().Add(20 * time.Second); len(sink.received()) == 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			out, _ := cli(t, cfg, "queue", "list")
			t.Fatalf("the topology's smart host got nothing in 20s; queues:\n%s", out)
		}
	}
}
