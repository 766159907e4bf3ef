package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// hungRouteOrg is hub-a1 and hub-a2 (site a) and hub-b (site b), the
// only server that sends out (to sink). hub-a1 takes mail with delayed
// acknowledgement (ackDelay) and relays it to hub-b in a shadow session;
// its command timeout is short, so that an attempt to a hung hub-b ends
// and is made again over and over. It returns the configuration files.
func hungRouteOrg(t *testing.T, ackDelay string) (a1, a2, b, sink, cfgA1, dataA1, cfgA2, cfgB, dataB string) {
	t.Helper()
	dir := t.TempDir()
	a1, a2, b, sink = freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.2"), freeAddr(t, "127.0.0.3"), reserveAddr(t, "127.0.0.1")
	topo := fmt.Sprintf(`sites: [{name: a}, {name: b}]
site_links:
  - {name: a-b, sites: [a, b], cost: 10}
servers:
  - {name: hub-a1, role: hub, site: a, address: %q, source_addresses: [127.0.0.1]}
  - {name: hub-a2, role: hub, site: a, address: %q, source_addresses: [127.0.0.1]}
  - {name: hub-b, role: hub, site: b, address: %q, source_addresses: [127.0.0.1]}
send_connectors:
  - {name: out, address_spaces: [{domain: "*", cost: 1}], source_servers: [hub-b], smart_hosts: [%q]}
`, a1, a2, b, sink)
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
transport: {retry_schedule: [1s], retry_jitter: 0.1, shadow_heartbeat_timeout: 1s, shadow_heartbeat_retry_count: 3, connect_timeout: 2s, command_timeout: 3s, dead_destination_cool_down: 1s}
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
	cfgA1, dataA1 = hub("hub-a1", a1, ackDelay)
	cfgA2, _ = hub("hub-a2", a2, "0s")
	cfgB, dataB = hub("hub-b", b, "0s")
	return
}

// rt18b F1 (SR-8, SR-11): copies taken over are copied again while their
// route hangs. hub-a1 relays messages to hub-b in a shadow session and
// keeps their copies; hub-b hangs (SIGSTOP): hub-a1 takes the copies
// over, and the messages cycle in delivery to the hung hub-b — claimed,
// waiting for a slot, hanging in the greeting, deferred. Their copies
// are made again on hub-a2, which answers, all the same: a message in
// delivery is copied too. Then hub-a1 and hub-b both lose their disks:
// hub-a2 takes the copies over and every message arrives once.
func TestTakenOverCopyMadeAgainWhileRouteHangs(t *testing.T) {
	t.Parallel()
	a1, a2, b, sinkAddr, cfgA1, dataA1, cfgA2, cfgB, dataB := hungRouteOrg(t, "1s")
	hb := startUmbra(t, cfgB, b)
	ha2 := startUmbra(t, cfgA2, a2)
	ha1 := startUmbra(t, cfgA1, a1)
	ha1.dumpLogIfFailed()
	ha2.dumpLogIfFailed()
	p := &shadowPair{}
	const n = 6
	acked := sendMany(a1, "hung", n, n, nil)
	if len(acked) != n {
		t.Fatalf("%d of %d acknowledged", len(acked), n)
	}
	waitCond(t, "hub-a1 to relay the messages to hub-b and hold their copies", 30*time.Second, func() bool { s, _ := p.held(t, cfgA1, "hub-b"); return s == n })
	if err := hb.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := true
	defer func() {
		if stopped {
			hb.cmd.Process.Signal(syscall.SIGCONT)
		}
	}()
	waitCond(t, "hub-a1 to take hub-b's copies over", 30*time.Second, func() bool { s, k := p.held(t, cfgA1, "hub-b"); return s == 0 && k == n })
	// The messages go on to hub-b, which hangs: in delivery most of the
	// time. Their copies are made again on hub-a2 all the same.
	waitCond(t, "hub-a1 to copy the taken-over messages again to hub-a2 while their route hangs", 60*time.Second, func() bool {
		s, _ := p.held(t, cfgA2, "hub-a1")
		return s == n
	})
	waitCond(t, "hub-a1 to list none held by it only", 30*time.Second, func() bool {
		out, code := cli(t, cfgA1, "shadow", "single")
		return code == 0 && strings.HasPrefix(strings.TrimSpace(out), "none:")
	})
	// Both disks that held the messages go.
	ha1.kill()
	os.RemoveAll(dataA1)
	hb.kill()
	stopped = false
	os.RemoveAll(dataB)
	sink := startRecorder(t, sinkAddr)
	hb = startUmbra(t, cfgB, b)
	hb.dumpLogIfFailed()
	ha1 = startUmbra(t, cfgA1, a1)
	waitArrived(t, sink, acked, ha2)
	time.Sleep(2 * time.Second) // a second copy on its way would land now
	for s, k := range sink.counts() {
		if k != 1 {
			t.Errorf("%s arrived %d times", s, k)
		}
	}
}
