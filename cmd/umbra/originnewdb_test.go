package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// SR-6, SR-7 (rt27a F3): hub-a (site s1, with hub-c) makes copies on
// receipt on hub-b (site s2); its way out is down. hub-a is killed -9
// while hub-c is down too; hub-b takes the copies over, and their route
// leads to site s1. hub-a comes back with a new database. Before, hub-b
// kept avoiding hub-a as the server the messages came from and waited
// for the dead hub-c until the messages expired; but hub-a's new
// database does not hold them: it is a route like any other, and every
// message is delivered once.
func TestTakenOverCopyGoesToOriginBackWithNewDatabase(t *testing.T) {
	dir := t.TempDir()
	// Each hub at an address of its own, from which it also dials: the
	// copies on receipt come from hub-a's address.
	a, b, c := "127.0.0.131:38431", "127.0.0.132:38432", "127.0.0.133:38433"
	sinkAddr := reserveAddr(t, "127.0.0.1")
	topo := fmt.Sprintf(`sites: [{name: s1}, {name: s2}]
site_links:
  - {name: s1-s2, sites: [s1, s2], cost: 10}
servers:
  - {name: hub-a, role: hub, site: s1, address: %q}
  - {name: hub-c, role: hub, site: s1, address: %q}
  - {name: hub-b, role: hub, site: s2, address: %q}
send_connectors:
  - {name: out, address_spaces: [{domain: "*", cost: 1}], source_servers: [hub-a, hub-c], smart_hosts: [%q]}
`, a, c, b, sinkAddr)
	topoPath := filepath.Join(dir, "topology.yaml")
	if err := os.WriteFile(topoPath, []byte(topo), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgA, dataA := orgHub(t, dir, "hub-a", a, topoPath, shadowOnReceipt("remote-only", false), "")
	cfgB, _ := orgHub(t, dir, "hub-b", b, topoPath, "0s", "")
	for cfg, ip := range map[string]string{cfgA: "127.0.0.131", cfgB: "127.0.0.132"} {
		data, _ := os.ReadFile(cfg)
		os.WriteFile(cfg, []byte(strings.Replace(string(data), `metrics_listen: ""}`, `metrics_listen: "", source_address: `+ip+`}`, 1)), 0o600)
	}
	hb := startUmbra(t, cfgB, b)
	hb.dumpLogIfFailed()
	ha := startUmbra(t, cfgA, a)
	p := &shadowPair{}
	const n = 3
	var subjects []string
	for i := 0; i < n; i++ {
		s := fmt.Sprintf("newdb-%d", i)
		reply := rawSend(t, a, "a@example.org", []string{"x@remote.example"}, "Subject: "+s+"\r\n\r\nhello\r\n")
		if !strings.HasPrefix(reply, "250") || !strings.Contains(reply, "shadow copy on hub-b") {
			t.Fatalf("reply %q: want a 250 naming the shadow copy on hub-b", reply)
		}
		subjects = append(subjects, s)
	}
	waitCond(t, "hub-b to hold the copies for hub-a", 30*time.Second, func() bool { s, _ := p.held(t, cfgB, "hub-a"); return s == n })
	ha.kill()
	waitCond(t, "hub-b to take the copies over", 60*time.Second, func() bool { s, _ := p.held(t, cfgB, "hub-a"); return s == 0 })
	os.RemoveAll(dataA) // hub-a comes back with a new database: the originals are gone
	sink := startRecorder(t, sinkAddr)
	ha = startUmbra(t, cfgA, a)
	ha.dumpLogIfFailed()
	waitCond(t, "every message delivered through hub-a", 60*time.Second, func() bool {
		for _, s := range subjects {
			if sink.counts()[s] == 0 {
				return false
			}
		}
		return true
	})
	time.Sleep(2 * time.Second)
	for _, s := range subjects {
		if k := sink.counts()[s]; k != 1 {
			t.Errorf("%s delivered %d times; want once", s, k)
		}
	}
}
