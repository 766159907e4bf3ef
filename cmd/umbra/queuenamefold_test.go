package main

import (
	"os"
	"path/filepath"
	"testing"

	"umbra/internal/config"
	"umbra/internal/queue"
)

// SR-13 (rt33 F1): the queue keeps a primary's shadow queue under its
// folded name (queue/primaryfold.go): an operator naming it, with no
// message in it yet, in another spelling than the topology's — letter
// case, a final dot — names the same queue, not an unknown one.
func TestSR13ShadowQueueNameAnySpellingOfATopologyServer(t *testing.T) {
	dir := t.TempDir()
	topo := filepath.Join(dir, "topology.yaml")
	if err := os.WriteFile(topo, []byte(`sites:
  - {name: a}
servers:
  - {name: Edge.RT.test, role: edge, site: a, address: "127.0.0.181:14025"}
  - {name: hub1.rt.test, role: hub, site: a, address: "127.0.0.182:14025"}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := config.LoadTopology(topo); err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{Topology: topo}
	check := queueNameChecker(func() *config.Config { return cfg })
	for _, name := range []string{"shadow:Edge.RT.test", "shadow:edge.rt.test", "shadow:EDGE.RT.TEST."} {
		if err := check(name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := check("shadow:other.rt.test"); err == nil {
		t.Error("shadow:other.rt.test: a server the topology does not list was taken")
	}
}

// OPS-2 (rt45 ops): the queues an operator may name on a server are the
// ones it can hold: not its own shadow queue, nor a mailbox or legacy
// server's (they push no copies), nor a topology send connector whose
// source is another server — each was offered as valid, and a
// suspension of it taken, holding nothing.
func TestOPSQueueNamesAreThoseThisServerCanHold(t *testing.T) {
	dir := t.TempDir()
	topo := filepath.Join(dir, "topology.yaml")
	if err := os.WriteFile(topo, []byte(`sites:
  - {name: a}
  - {name: g}
site_links: [{name: a-g, sites: [a, g], cost: 1}]
servers:
  - {name: hub-a.rt.test, role: hub, site: a, address: "127.0.0.181:14025"}
  - {name: hub-g.rt.test, role: hub, site: g, address: "127.0.0.182:14025"}
  - {name: mbx.rt.test, role: mailbox, site: a, address: "127.0.0.183:14025"}
mailbox_databases: [{name: DB1, server: mbx.rt.test}]
send_connectors:
  - {name: partner, address_spaces: [{domain: partner.test, cost: 1}], source_servers: [hub-g.rt.test], smart_hosts: ["127.0.0.184:25"]}
  - {name: own, address_spaces: [{domain: own.test, cost: 1}], source_servers: [HUB-A.rt.test], smart_hosts: ["127.0.0.184:25"]}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := config.LoadTopology(topo); err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{Topology: topo}
	cfg.Server.Name = "hub-a.rt.test"
	check := queueNameChecker(func() *config.Config { return cfg })
	for _, name := range []string{"shadow:hub-g.rt.test", "smarthost:own"} {
		if err := check(name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, name := range []string{"shadow:hub-a.rt.test", "shadow:mbx.rt.test", "smarthost:partner"} {
		err := check(name)
		if err == nil {
			t.Errorf("%s taken on hub-a.rt.test, which can never hold it", name)
			continue
		}
		for _, v := range err.(*queue.UnknownNameError).Valid {
			if v == name || v == "smarthost:partner" || v == "shadow:mbx.rt.test" || v == "shadow:hub-a.rt.test" {
				t.Errorf("%s: offered %s as valid: %v", name, v, err)
			}
		}
	}
}
