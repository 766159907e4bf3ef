package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// SR-15 (rt31a F2): a reload removed hub-b from hub-a's topology while
// hub-b held copies of hub-a's messages. hub-a refuses hub-b's sessions
// now (no transport server of its topology), so hub-b's discard queries
// fetch nothing; hub-a delivered the messages and kept the discards it
// owed hub-b, and hub-b, once hub-a died, took them over and delivered
// them a second time. hub-a knows where hub-b is — the address it made
// the copies at, kept in its transport database — and hands it those
// discards over a session of its own. The test waits, bounded, for hub-b
// to hold nothing of hub-a's; it asserts no duration.
func TestSR15HolderRemovedFromTopologyGetsItsDiscards(t *testing.T) {
	removedHolderGetsItsDiscards(t, "127.0.0.182", "127.0.0.183", "127.0.0.184", false)
}

// SR-15, SR-13 (rt31a F2, at a restart): the same, hub-a killed -9 and
// started again with the topology that no longer lists hub-b. The
// address hub-a made the copies at is read from its transport database:
// no topology names it any more. hub-b's heartbeats are 5 s apart here,
// so that the moment hub-a is down is no takeover.
func TestSR15HolderRemovedAtRestartGetsItsDiscards(t *testing.T) {
	removedHolderGetsItsDiscards(t, "127.0.0.185", "127.0.0.186", "127.0.0.187", true)
}

// removedHolderGetsItsDiscards: hub-a (ipA) makes three copies on
// hub-b (ipB) with the sink down; hub-a's topology then lists hub-c
// (ipC, never started) in hub-b's place — by a reload, or by a kill -9
// and a start when restart —; hub-b is restarted (no session of it let
// in before is left); the sink comes up, hub-a delivers, and hub-b must
// come to hold nothing of hub-a's, each message arriving once.
func removedHolderGetsItsDiscards(t *testing.T, ipA, ipB, ipC string, restart bool) {
	o, _ := certReceiptHubsAt(t, ipA, ipB, "remote-only", true)
	if restart {
		editConfig(t, o.cfgB, "shadow_heartbeat_timeout: 1s", "shadow_heartbeat_timeout: 5s")
	}
	ha, hb := o.start(t)
	sent := []string{}
	for i := range 3 {
		s := fmt.Sprintf("copied-%d", i)
		o.sendCopied(t, "Subject: "+s+"\r\n\r\nbody")
		sent = append(sent, s)
	}
	topoA := topologyWithoutHubB(t, o, ipC)
	useTopoA := func() {
		editConfig(t, o.cfgA, "topology: "+filepath.Join(o.dir, "topology.yaml"), "topology: "+topoA)
	}
	if restart {
		ha.kill()
		useTopoA()
		ha = startUmbra(t, o.cfgA, o.a)
		ha.dumpLogIfFailed()
	} else {
		reloadDaemon(t, ha, useTopoA)
	}
	hb.kill()
	hb = startUmbra(t, o.cfgB, o.b)
	hb.dumpLogIfFailed()
	sink := startRecorder(t, o.sink)
	waitArrived(t, sink, sent, ha)
	waitCond(t, "hub-b, removed from hub-a's topology, to get the discards of its copies", 60*time.Second, func() bool {
		p := &shadowPair{}
		s, w := p.held(t, o.cfgB, "hub-a")
		return s == 0 && w == 0
	})
	// hub-a writes the line when the push's answer comes back, after
	// hub-b committed the discards: wait for it.
	waitLogCount(t, ha, "discard notifications handed to a shadow server the topology no longer lists", 1)
	for _, s := range sent {
		if n := sink.counts()[s]; n != 1 {
			t.Fatalf("%q arrived %d times at the sink", s, n)
		}
	}
}

// topologyWithoutHubB writes hub-a's topology without hub-b — hub-c (at
// ipC, never started) takes its place in site b — and returns its path.
func topologyWithoutHubB(t *testing.T, o *receiptHubs, ipC string) string {
	t.Helper()
	topo := fmt.Sprintf(`sites:
  - {name: a}
  - {name: b}
site_links:
  - {name: a-b, sites: [a, b], cost: 10}
servers:
  - {name: hub-a, role: hub, site: a, address: %q, source_addresses: [127.0.0.1]}
  - {name: hub-c, role: hub, site: b, address: %q, source_addresses: [127.0.0.1]}
send_connectors:
  - {name: out, address_spaces: [{domain: "*", cost: 1}], source_servers: [hub-a, hub-c], smart_hosts: [%q]}
`, o.a, reserveAddr(t, ipC), o.sink)
	topoA := filepath.Join(o.dir, "topology-a.yaml")
	if err := os.WriteFile(topoA, []byte(topo), 0o600); err != nil {
		t.Fatal(err)
	}
	return topoA
}
