package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/testsupport"
)

// heldHolderOrg is hub-a (site a), which copies on receipt (prefer-remote)
// and sends out to sink, and hub-b and hub-c (site b), which may send out
// too (a copy taken over goes out from there). Command and data timeouts
// are two minutes: an attempt to a sink that never answers stays in
// delivery for that long. It returns the configuration files and data
// directories.
func heldHolderOrg(t *testing.T) (a, b, c, sink, cfgA, dataA, cfgB, dataB, cfgC, dataC string) {
	t.Helper()
	dir := t.TempDir()
	a, b, c, sink = freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.2"), freeAddr(t, "127.0.0.3"), reserveAddr(t, "127.0.0.1")
	topo := fmt.Sprintf(`sites: [{name: a}, {name: b}]
site_links:
  - {name: a-b, sites: [a, b], cost: 10}
servers:
  - {name: hub-a, role: hub, site: a, address: %q, source_addresses: [127.0.0.1]}
  - {name: hub-b, role: hub, site: b, address: %q, source_addresses: [127.0.0.1]}
  - {name: hub-c, role: hub, site: b, address: %q, source_addresses: [127.0.0.1]}
send_connectors:
  - {name: out, address_spaces: [{domain: "*", cost: 1}], source_servers: [hub-a, hub-b, hub-c], smart_hosts: [%q]}
`, a, b, c, sink)
	topoPath := filepath.Join(dir, "topology.yaml")
	if err := os.WriteFile(topoPath, []byte(topo), 0o600); err != nil {
		t.Fatal(err)
	}
	hub := func(name, addr, ack string) (string, string) {
		d := filepath.Join(dir, name)
		os.MkdirAll(d, 0o700)
		path, data := filepath.Join(d, "umbra.yaml"), filepath.Join(d, "data")
		cfg := fmt.Sprintf(`server: {name: %s, data_dir: %s, metrics_listen: ""}
topology: %s
transport: {retry_schedule: [1s], retry_jitter: 0.1, shadow_heartbeat_timeout: 1s, shadow_heartbeat_retry_count: 3, connect_timeout: 2s, command_timeout: 2m, data_timeout: 2m, dead_destination_cool_down: 1s}
receive_connectors:
  - name: org
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    externally_secured: true
    permissions: {anonymous: [submit, relay], servers: [submit, relay, accept-xshadow]}
    max_acknowledgement_delay: %s
`, name, data, topoPath, addr, ack)
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		return path, data
	}
	cfgA, dataA = hub("hub-a", a, shadowOnReceipt("prefer-remote", false))
	cfgB, dataB = hub("hub-b", b, "0s")
	cfgC, dataC = hub("hub-c", c, "0s")
	return
}

// rt19 fixa19 item 1 (SR-7, SR-8): a copy made again while its message
// is in delivery, whose holder then loses its disk, is made again during
// the same attempt. hub-a accepts mail while no shadow server answers
// (250 … no shadow copy); its route hangs (a sink that takes the
// connection and never answers, for the two minutes of the command
// timeout). hub-b starts and the holders' pass copies the messages
// there while they are in delivery. hub-b is killed -9, wiped and
// started again (a new database id): hub-a finds it at its next probe,
// not after the attempt, and copies the messages again — to hub-c, the
// other server of site b, or to hub-b. Then hub-a's disk goes: the
// copies are taken over and every message arrives once.
func TestCopyMadeInDeliveryLostWithItsHolderIsMadeAgain(t *testing.T) {
	t.Parallel()
	a, b, c, sinkAddr, cfgA, dataA, cfgB, dataB, cfgC, _ := heldHolderOrg(t)
	hung := testsupport.Silent(t, sinkAddr)
	ha := startUmbra(t, cfgA, a)
	ha.dumpLogIfFailed()
	p := &shadowPair{}
	const n = 3
	acked := sendMany(a, "heldlost", n, 1, nil)
	if len(acked) != n {
		t.Fatalf("%d of %d acknowledged", len(acked), n)
	}
	waitCond(t, "hub-a's attempt to hang on the sink", 30*time.Second, func() bool { return hung.Count() > 0 })
	hb := startUmbra(t, cfgB, b)
	hb.dumpLogIfFailed()
	waitCond(t, "hub-a to copy the messages in delivery to hub-b", 30*time.Second, func() bool {
		s, _ := p.held(t, cfgB, "hub-a")
		return s == n
	})
	waitCond(t, "hub-a to list none held by it only", 30*time.Second, func() bool {
		out, code := cli(t, cfgA, "shadow", "single")
		return code == 0 && strings.HasPrefix(strings.TrimSpace(out), "none:")
	})
	// hub-b loses its disk while the attempt still hangs.
	hb.kill()
	os.RemoveAll(dataB)
	hc := startUmbra(t, cfgC, c)
	hc.dumpLogIfFailed()
	hb = startUmbra(t, cfgB, b)
	lost := time.Now()
	// Well within the attempt's two minutes.
	waitCond(t, "hub-a to copy the messages again while their attempt still hangs", 20*time.Second, func() bool {
		sb, _ := p.held(t, cfgB, "hub-a")
		sc, _ := p.held(t, cfgC, "hub-a")
		return sb+sc == n && sb >= 0 && sc >= 0
	})
	t.Logf("copies made again %v after hub-b's restart", time.Since(lost).Round(100*time.Millisecond))
	// hub-a's disk goes: the copies made again are the only ones.
	ha.kill()
	os.RemoveAll(dataA)
	hung.Close()
	sink := startRecorder(t, sinkAddr)
	waitArrived(t, sink, acked, hb)
	time.Sleep(2 * time.Second) // a second copy on its way would land now
	for s, k := range sink.counts() {
		if k != 1 {
			t.Errorf("%s arrived %d times", s, k)
		}
	}
}
