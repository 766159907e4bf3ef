package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// SR-7, SR-17 (rr25 F1): a second host started on a copy of hub-b's data
// dir AND of its umbra.yaml (server.name hub-b), added to the topology
// as hub-c at its own address, states NAME=hub-b with hub-b's database
// id: the name hub-a keeps the id as. It is not hub-b met under a second
// name — hub-b is a server of hub-a's topology at another address —, so
// no copy on receipt is made on it (its sessions pass as hub-b's here:
// either host could discard or take over a copy filed under hub-c), and
// hub-a WARNs that two hosts state that name.
func TestNoCopyOnReceiptOnCopiedConfig(t *testing.T) {
	dir := t.TempDir()
	a, b, c := freeAddr(t, "127.0.0.187"), freeAddr(t, "127.0.0.187"), freeAddr(t, "127.0.0.187")
	sinkAddr := reserveAddr(t, "127.0.0.1")
	topoPath := hubCInSiteBTopology(t, dir, a, b, c, sinkAddr, "hub-a", "hub-b")
	cfgA, _ := orgHub(t, dir, "hub-a", a, topoPath, shadowOnReceipt("prefer-remote", false), "")
	cfgB, dataB := orgHub(t, dir, "hub-b", b, topoPath, "0s", "")
	// The clone: hub-b's configuration (server.name hub-b), bound at
	// hub-c's address, on a copy of hub-b's data dir; the topology it
	// reads is its own, edited to start (hub-b at its address).
	cloneTopo := filepath.Join(dir, "clone-topology.yaml")
	clone := fmt.Sprintf(`sites:
  - {name: a}
  - {name: b}
site_links:
  - {name: a-b, sites: [a, b], cost: 10}
servers:
  - {name: hub-a, role: hub, site: a, address: %q, source_addresses: [127.0.0.1]}
  - {name: hub-b, role: hub, site: b, address: %q, source_addresses: [127.0.0.1]}
send_connectors:
  - {name: out, address_spaces: [{domain: "*", cost: 1}], source_servers: [hub-a, hub-b], smart_hosts: [%q]}
`, a, c, sinkAddr)
	if err := os.WriteFile(cloneTopo, []byte(clone), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgC, dataC := orgHub(t, filepath.Join(dir, "clone"), "hub-b", c, cloneTopo, "0s", "")

	hb := startUmbra(t, cfgB, b)
	hb.kill()
	copyDataDir(t, dataB, dataC)

	sink := startRecorder(t, sinkAddr)
	hb = startUmbra(t, cfgB, b)
	ha := startUmbra(t, cfgA, a)
	ha.dumpLogIfFailed()
	p := &shadowPair{}
	// hub-a meets hub-b's database under hub-b's name (the clone is down).
	if reply := rawSend(t, a, "a@example.org", []string{"b@remote.example"}, "Subject: first\r\n\r\nbody"); !strings.Contains(reply, "shadow copy on hub-b") {
		t.Fatalf("reply %q: want a 250 naming the copy on hub-b", reply)
	}
	waitArrived(t, sink, []string{"first"}, ha)

	// hub-b goes down; the clone comes up at hub-c's address.
	hb.kill()
	hc := startUmbra(t, cfgC, c)
	hc.dumpLogIfFailed()
	acked := []string{"first"}
	for i := 0; i < 2; i++ {
		subj := fmt.Sprintf("clone-%d", i)
		reply := rawSend(t, a, "a@example.org", []string{"b@remote.example"}, "Subject: "+subj+"\r\n\r\nbody")
		if !strings.HasPrefix(reply, "250") {
			t.Fatalf("reply %q: want a 250 (reject_on_shadow_failure is off)", reply)
		}
		if strings.Contains(reply, "shadow copy on hub-c") {
			t.Errorf("reply %q: a copy on receipt was made on hub-c, a second host stating hub-b's name", reply)
		}
		acked = append(acked, subj)
	}
	waitArrived(t, sink, acked, ha)
	if s, w := p.held(t, cfgC, "hub-a"); s != 0 || w != 0 {
		t.Errorf("the clone holds %d copies of hub-a's (%d pending); want none", s, w)
	}
	if b, _ := os.ReadFile(ha.log); !strings.Contains(string(b), "two hosts state that name") {
		t.Errorf("hub-a logged no WARN that two hosts state hub-b's name")
	}
}
