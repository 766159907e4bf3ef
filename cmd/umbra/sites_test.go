package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/queue"
)

// Four umbra hubs in three sites deliver by the topology: A -> C directly
// (no hub site between), and when C does not answer the mail queues at
// the nearest reachable site back along the path (B), flowing on when C
// returns (RT-3, RT-5, hub load balancing in B).
func TestSitesQueueAtPointOfFailure(t *testing.T) {
	dir := t.TempDir()
	hubs := map[string]string{ // name -> listen address
		"hub-a":  freeAddr(t, "127.0.0.1"),
		"hub-b1": freeAddr(t, "127.0.0.2"),
		"hub-b2": freeAddr(t, "127.0.0.3"),
		"hub-c":  freeAddr(t, "127.0.0.4"),
	}
	sinkAddr := reserveAddr(t, "127.0.0.1")
	topo := fmt.Sprintf(`sites:
  - {name: a, subnets: ["127.0.0.1/32"]}
  - {name: b, subnets: ["127.0.0.2/31"]}
  - {name: c, subnets: ["127.0.0.4/32"]}
site_links:
  - {name: a-b, sites: [a, b], cost: 10}
  - {name: b-c, sites: [b, c], cost: 10}
servers:
  - {name: hub-a, role: hub, address: %q}
  - {name: hub-b1, role: hub, address: %q}
  - {name: hub-b2, role: hub, address: %q}
  - {name: hub-c, role: hub, address: %q}
send_connectors:
  - name: out
    address_spaces: [{domain: "*", cost: 1}]
    source_servers: [hub-c]
    smart_hosts: [%q]
`, hubs["hub-a"], hubs["hub-b1"], hubs["hub-b2"], hubs["hub-c"], sinkAddr)
	topoPath := filepath.Join(dir, "topology.yaml")
	os.WriteFile(topoPath, []byte(topo), 0o600)
	cfgs := map[string]string{}
	for name, addr := range hubs {
		d := filepath.Join(dir, name)
		os.MkdirAll(d, 0o700)
		cfg := fmt.Sprintf(`server: {name: %s, data_dir: %s, metrics_listen: ""}
topology: %s
transport: {retry_schedule: [1s], retry_jitter: 0.1}
receive_connectors:
  - name: org
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    permissions: {anonymous: [submit, relay]}
    max_acknowledgement_delay: 0s
`, name, filepath.Join(d, "data"), topoPath, addr)
		cfgs[name] = filepath.Join(d, "umbra.yaml")
		os.WriteFile(cfgs[name], []byte(cfg), 0o600)
	}
	procs := map[string]*daemon{}
	for name, addr := range hubs {
		procs[name] = startUmbra(t, cfgs[name], addr)
	}
	sink := startRecorder(t, sinkAddr)

	// A relays straight to C, which sends through the connector.
	acked := sendMany(hubs["hub-a"], "direct", 2, 1, nil)
	waitArrived(t, sink, acked, procs["hub-a"])
	trail := sink.bodies["direct-0"]
	if !strings.Contains(trail, "by hub-a (umbra)") || !strings.Contains(trail, "by hub-c (umbra)") || strings.Contains(trail, "by hub-b") {
		t.Fatalf("A -> C should be direct; Received trail:\n%s", trail)
	}

	// C goes down: A's mail backs off to site B and queues there.
	procs["hub-c"].kill()
	acked = sendMany(hubs["hub-a"], "failover", 4, 1, nil)
	queued := func(name string) int {
		out, _ := cli(t, cfgs[name], "--socket", filepath.Join(dir, name, "data", "admin.sock"), "queue", "list", "--json")
		var qs []queue.QueueInfo
		json.Unmarshal([]byte(out), &qs)
		n := 0
		for _, q := range qs {
			n += q.Count
		}
		return n
	}
	deadline := time.Now().Add(60 * time.Second)
	for queued("hub-b1")+queued("hub-b2") != 4 || queued("hub-a") != 0 {
		if time.Now().After(deadline) {
			procs["hub-a"].dumpLog()
			t.Fatalf("want 4 messages queued in site b and none at a: a %d, b1 %d, b2 %d",
				queued("hub-a"), queued("hub-b1"), queued("hub-b2"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if queued("hub-b1") == 0 || queued("hub-b2") == 0 {
		t.Logf("site b load: b1 %d, b2 %d (round-robin expects both)", queued("hub-b1"), queued("hub-b2"))
	}

	// C returns with its database: the mail flows from B.
	procs["hub-c"] = startUmbra(t, cfgs["hub-c"], hubs["hub-c"])
	waitArrived(t, sink, acked, procs["hub-c"])
	if trail := sink.bodies["failover-0"]; !strings.Contains(trail, "by hub-b") {
		t.Errorf("the failover copy did not pass through site b:\n%s", trail)
	}
}
