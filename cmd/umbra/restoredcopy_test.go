package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// rt18b F2 (SR-7, SR-4): a copy on receipt brought back by umbra db
// restore of its shadow server does not outlive the primary's delivery.
// hub-a (site a) copies on receipt to hub-b1 and hub-b2 (site b) in
// turn while its way out is down; hub-b1 is backed up, killed -9 and
// restored: it comes back with a new database id and the copies of the
// backup. hub-a makes the copies it had there again — some on hub-b2 —
// and delivers every message once the way out is up. hub-b1's restored
// copies of the messages whose copy now lives on hub-b2 are settled too
// (hub-a owes hub-b1 their discard: a restore brings copies back), so a
// later failure of hub-a delivers nothing a second time.
func TestRestoredReceiptCopySettledWhenMadeElsewhere(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, b1, b2, sinkAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.2"), freeAddr(t, "127.0.0.3"), reserveAddr(t, "127.0.0.1")
	topo := fmt.Sprintf(`sites: [{name: a}, {name: b}]
site_links:
  - {name: a-b, sites: [a, b], cost: 10}
servers:
  - {name: hub-a, role: hub, site: a, address: %q, source_addresses: [127.0.0.1]}
  - {name: hub-b1, role: hub, site: b, address: %q, source_addresses: [127.0.0.1]}
  - {name: hub-b2, role: hub, site: b, address: %q, source_addresses: [127.0.0.1]}
send_connectors:
  - {name: out, address_spaces: [{domain: "*", cost: 1}], source_servers: [hub-a], smart_hosts: [%q]}
`, a, b1, b2, sinkAddr)
	topoPath := filepath.Join(dir, "topology.yaml")
	if err := os.WriteFile(topoPath, []byte(topo), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgA, _ := orgHub(t, dir, "hub-a", a, topoPath, shadowOnReceipt("prefer-remote", false), "")
	cfgB1, dataB1 := orgHub(t, dir, "hub-b1", b1, topoPath, "0s", "")
	cfgB2, _ := orgHub(t, dir, "hub-b2", b2, topoPath, "0s", "")
	hb1 := startUmbra(t, cfgB1, b1)
	hb2 := startUmbra(t, cfgB2, b2)
	ha := startUmbra(t, cfgA, a)
	ha.dumpLogIfFailed()
	hb2.dumpLogIfFailed()
	p := &shadowPair{}
	const n = 6
	acked := sendMany(a, "restored", n, 1, nil)
	if len(acked) != n {
		t.Fatalf("%d of %d acknowledged", len(acked), n)
	}
	waitCond(t, "hub-b1 and hub-b2 to hold the copies", 30*time.Second, func() bool {
		s1, _ := p.held(t, cfgB1, "hub-a")
		s2, _ := p.held(t, cfgB2, "hub-a")
		return s1 > 0 && s2 > 0 && s1+s2 == n
	})
	backup := filepath.Join(dir, "hub-b1.backup")
	if out, code := cli(t, cfgB1, "db", "backup", backup); code != 0 {
		t.Fatalf("db backup: %d %s", code, out)
	}
	hb1.kill()
	os.RemoveAll(dataB1)
	if out, code := cli(t, cfgB1, "db", "restore", "--owner", selfOwner(), backup); code != 0 {
		t.Fatalf("db restore: %d %s", code, out)
	}
	hb1 = startUmbra(t, cfgB1, b1)
	hb1.dumpLogIfFailed()
	waitCond(t, "hub-a to make the copies it had on hub-b1 again", 60*time.Second, func() bool {
		out, _ := os.ReadFile(ha.log)
		return strings.Contains(string(out), "shadow copies made again")
	})
	sink := startRecorder(t, sinkAddr)
	waitArrived(t, sink, acked, ha)
	waitCond(t, "hub-a's queue to empty", 30*time.Second, func() bool { return len(p.queued(t, cfgA)) == 0 })
	// Every copy settled: hub-b1's restored ones included.
	waitCond(t, "hub-b1 and hub-b2 to hold no copy for hub-a", 30*time.Second, func() bool {
		s1, k1 := p.held(t, cfgB1, "hub-a")
		s2, k2 := p.held(t, cfgB2, "hub-a")
		return s1 == 0 && k1 == 0 && s2 == 0 && k2 == 0
	})
	ha.kill()
	time.Sleep(6 * time.Second) // a takeover of a copy left behind would deliver now
	for s, k := range sink.counts() {
		if k != 1 {
			t.Errorf("%s arrived %d times", s, k)
		}
	}
}
