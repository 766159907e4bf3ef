package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// SR-7, SR-6 (shadow28 item 2): as TestTakenOverCopyGoesToOriginBackWithNewDatabase,
// but hub-a comes back with a new database before its heartbeats fail
// the retry count: hub-b takes the copies over at once because the
// database id changed (SR-7), not for failed heartbeats. Before, that
// takeover recorded no database id for the copies, so hub-b kept
// avoiding hub-a as the server the messages came from and waited for the
// dead hub-c: nothing was delivered. hub-a's new database holds none of
// them; every message is delivered once, through hub-a.
func TestSR7TakenOverCopyGoesToOriginBackWithNewDatabase(t *testing.T) {
	dir := t.TempDir()
	a, b, c := "127.0.0.141:39141", "127.0.0.142:39142", "127.0.0.143:39143"
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
	for cfg, ip := range map[string]string{cfgA: "127.0.0.141", cfgB: "127.0.0.142"} {
		data, _ := os.ReadFile(cfg)
		s := strings.Replace(string(data), `metrics_listen: ""}`, `metrics_listen: "", source_address: `+ip+`}`, 1)
		if cfg == cfgB {
			// No takeover for failed heartbeats while hub-a restarts: the
			// one that comes is SR-7's.
			s = strings.Replace(s, "shadow_heartbeat_retry_count: 3", "shadow_heartbeat_retry_count: 60", 1)
		}
		os.WriteFile(cfg, []byte(s), 0o600)
	}
	hb := startUmbra(t, cfgB, b)
	hb.dumpLogIfFailed()
	ha := startUmbra(t, cfgA, a)
	p := &shadowPair{}
	const n = 3
	var subjects []string
	for i := 0; i < n; i++ {
		s := fmt.Sprintf("sr7-%d", i)
		reply := rawSend(t, a, "a@example.org", []string{"x@remote.example"}, "Subject: "+s+"\r\n\r\nhello\r\n")
		if !strings.HasPrefix(reply, "250") || !strings.Contains(reply, "shadow copy on hub-b") {
			t.Fatalf("reply %q: want a 250 naming the shadow copy on hub-b", reply)
		}
		subjects = append(subjects, s)
	}
	waitCond(t, "hub-b to hold the copies for hub-a", 30*time.Second, func() bool { s, _ := p.held(t, cfgB, "hub-a"); return s == n })
	ha.kill()
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
