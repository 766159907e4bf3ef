package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// rt18b F4 (SR-8, SR-17): the copy on receipt lands on the hub the
// message is then relayed to. hub-a (site a) copies on receipt to hub-b
// (site b, the only server that sends out, to a sink that is down) and
// relays the message to hub-b in a shadow session. hub-b cannot reach
// hub-a (its topology address is a black hole that accepts and never
// answers), so no discard of the copy on receipt reaches hub-b, and
// hub-b's heartbeats fail: it takes hub-a's copies over. It must not
// deliver the message twice: the copy on receipt was merged into the
// relayed original in the commit that stored the original (hub-b owns
// the message from then on, and hub-a keeps the relay's copy).
func TestReceiptCopyOnNextHopMergedIntoRelayedOriginal(t *testing.T) {
	t.Parallel()
	receiptCopyOnNextHop(t, "hub-a", "hub-b", "127.0.0.1", freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.2"), reserveAddr(t, "127.0.0.1"))
}

// rt36 (SR-8, SR-17): the same with the servers named in mixed case, as
// an operator may write them in the topology (hubA.test). hub-b keeps
// the copy on receipt under the folded name of its primary and the
// relayed original under the name hub-a's session stated; the merge
// compared the two exactly, kept both, and the takeover of the copy
// delivered the message a second time.
func TestReceiptCopyOnNextHopMergedMixedCaseNames(t *testing.T) {
	t.Parallel()
	receiptCopyOnNextHop(t, "hubA.test", "hubB.test", "127.0.0.160", "127.0.0.160:8010", "127.0.0.160:8011", "127.0.0.160:8012", "127.0.0.160:8013")
}

// receiptCopyOnNextHop runs the scenario above with the servers named
// nameA and nameB, hub-a at a (its topology address the black hole
// hole), hub-b at b, the sink at sinkAddr, all sending from ip.
func receiptCopyOnNextHop(t *testing.T, nameA, nameB, ip, a, hole, b, sinkAddr string) {
	dir := t.TempDir()
	ln, err := net.Listen("tcp", hole)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c) // accepted, never answered
		}
	}()
	topo := fmt.Sprintf(`sites: [{name: a}, {name: b}]
site_links:
  - {name: a-b, sites: [a, b], cost: 10}
servers:
  - {name: %s, role: hub, site: a, address: %q, source_addresses: [%s]}
  - {name: %s, role: hub, site: b, address: %q, source_addresses: [%s]}
send_connectors:
  - {name: out, address_spaces: [{domain: "*", cost: 1}], source_servers: [%s], smart_hosts: [%q]}
`, nameA, hole, ip, nameB, b, ip, nameB, sinkAddr)
	topoPath := filepath.Join(dir, "topology.yaml")
	if err := os.WriteFile(topoPath, []byte(topo), 0o600); err != nil {
		t.Fatal(err)
	}
	hub := func(name, addr, server, conn string) string {
		d := filepath.Join(dir, name)
		os.MkdirAll(d, 0o700)
		path := filepath.Join(d, "umbra.yaml")
		cfg := fmt.Sprintf(`server: {name: %s, data_dir: %s, metrics_listen: "", source_address: %s%s}
topology: %s
transport: {retry_schedule: [1s], retry_jitter: 0.1, shadow_heartbeat_timeout: 1s, shadow_heartbeat_retry_count: 3, connect_timeout: 2s, command_timeout: 2s}
receive_connectors:
  - name: org
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    externally_secured: true
    permissions: {anonymous: [submit, relay], servers: [submit, relay, accept-xshadow]}
%s`, name, filepath.Join(d, "data"), ip, server, topoPath, addr, conn)
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	cfgA := hub(nameA, a, ", address_translated: true", "    max_acknowledgement_delay: 30s\n    shadow_on_receipt: prefer-remote\n")
	cfgB := hub(nameB, b, "", "    max_acknowledgement_delay: 0s\n")
	hb := startUmbra(t, cfgB, b)
	ha := startUmbra(t, cfgA, a)
	hb.dumpLogIfFailed()
	ha.dumpLogIfFailed()
	const n = 3
	var acked []string
	for i := 0; i < n; i++ {
		subj := fmt.Sprintf("nexthop-%d", i)
		if reply := rawSend(t, a, "a@example.org", []string{"b@remote.example"}, "Subject: "+subj+"\r\n\r\nhello"); !strings.HasPrefix(reply, "250") ||
			!strings.Contains(reply, "shadow copy on "+nameB) {
			t.Fatalf("reply %q: want a 250 naming the shadow copy on %s", reply, nameB)
		}
		acked = append(acked, subj)
	}
	p := &shadowPair{}
	waitCond(t, "hub-a to relay the messages to hub-b and hold their copies", 30*time.Second, func() bool { s, _ := p.held(t, cfgA, strings.ToLower(nameB)); return s == n }) // queues are named by the folded name
	// hub-b's heartbeats of hub-a fail: whatever it still holds for
	// hub-a is taken over now.
	time.Sleep(8 * time.Second)
	sink := startRecorder(t, sinkAddr)
	waitArrived(t, sink, acked, hb)
	waitCond(t, "hub-b's queue to empty", 30*time.Second, func() bool { return len(p.queued(t, cfgB)) == 0 })
	time.Sleep(2 * time.Second) // a second copy on its way would land now
	for s, k := range sink.counts() {
		if k != 1 {
			t.Errorf("%s arrived %d times", s, k)
		}
	}
}
