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

// rt16a F1, the chained case (SR-8, SR-11): three hubs in three sites;
// only hub-b sends out. hub-a takes a message (its copy on receipt on
// hub-c, the nearest other site) and relays it to hub-b in a shadow
// session; hub-b defers it (the way out is down). hub-b is killed -9:
// hub-a takes its copy over and makes a copy of it again on hub-c. hub-a
// is killed -9 in turn: hub-c takes that copy over and retries it
// through hub-b. hub-b comes back with its database while hub-c is
// stopped and delivers its original. hub-c continues and relays its copy
// to hub-b with the org id: hub-b drops the recipient it has done, and
// the outside gets the message once.
func TestChainedTakenCopyDroppedByReturningPrimary(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, b, c, sinkAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.2"), freeAddr(t, "127.0.0.3"), reserveAddr(t, "127.0.0.1")
	topo := fmt.Sprintf(`sites: [{name: a}, {name: b}, {name: c}]
site_links:
  - {name: a-b, sites: [a, b], cost: 10}
  - {name: a-c, sites: [a, c], cost: 5}
  - {name: b-c, sites: [b, c], cost: 10}
servers:
  - {name: hub-a, role: hub, site: a, address: %q, source_addresses: [127.0.0.1]}
  - {name: hub-b, role: hub, site: b, address: %q, source_addresses: [127.0.0.1]}
  - {name: hub-c, role: hub, site: c, address: %q, source_addresses: [127.0.0.1]}
send_connectors:
  - {name: out, address_spaces: [{domain: "*", cost: 1}], source_servers: [hub-b], smart_hosts: [%q]}
`, a, b, c, sinkAddr)
	topoPath := filepath.Join(dir, "topology.yaml")
	if err := os.WriteFile(topoPath, []byte(topo), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgA, _ := orgHub(t, dir, "hub-a", a, topoPath, shadowOnReceipt("prefer-remote", false), "")
	cfgB, _ := orgHub(t, dir, "hub-b", b, topoPath, "0s", "")
	cfgC, _ := orgHub(t, dir, "hub-c", c, topoPath, "0s", "")
	hb := startUmbra(t, cfgB, b)
	hc := startUmbra(t, cfgC, c)
	ha := startUmbra(t, cfgA, a)
	hc.dumpLogIfFailed()
	p := &shadowPair{}
	if reply := rawSend(t, a, "a@example.org", []string{"b@remote.example"}, "Subject: chained\r\n\r\nhello"); !strings.HasPrefix(reply, "250") ||
		!strings.Contains(reply, "shadow copy on hub-c") {
		t.Fatalf("reply %q: want a 250 naming the shadow copy on hub-c", reply)
	}
	waitCond(t, "hub-a to relay the message to hub-b and hold its copy", 30*time.Second, func() bool { s, _ := p.held(t, cfgA, "hub-b"); return s == 1 })
	hb.kill()
	// hub-a takes hub-b's message over, the only copy of it now, and
	// makes its copy again on hub-c.
	waitCond(t, "hub-a to take the message over and copy it again to hub-c", 60*time.Second, func() bool {
		s, _ := p.held(t, cfgC, "hub-a")
		return s == 1
	})
	ha.kill()
	waitCond(t, "hub-c to take its copy over and retry it through hub-b", 60*time.Second, func() bool {
		out, _ := cli(t, cfgC, "track", "--json", "--sender", "a@example.org")
		return strings.Contains(out, `"event": "takeover"`) && strings.Contains(out, `"event": "defer"`)
	})
	if err := hc.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := true
	defer func() {
		if stopped {
			hc.cmd.Process.Signal(syscall.SIGCONT)
		}
	}()
	sink := startRecorder(t, sinkAddr)
	hb2 := startUmbra(t, cfgB, b)
	hb2.dumpLogIfFailed()
	waitArrived(t, sink, []string{"chained"}, hb2)
	waitCond(t, "hub-b to finish its original", 30*time.Second, func() bool { return len(p.queued(t, cfgB)) == 0 })
	if err := hc.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	stopped = false
	waitCond(t, "hub-c's copy to be relayed and settled", 45*time.Second, func() bool {
		out, _ := cli(t, cfgC, "track", "--json", "--sender", "a@example.org")
		return strings.Contains(out, `"event": "shadow"`) && len(p.queued(t, cfgC)) == 0
	})
	waitCond(t, "hub-b's queue to empty", 30*time.Second, func() bool { return len(p.queued(t, cfgB)) == 0 })
	time.Sleep(2 * time.Second) // a second copy on its way would land now
	if n := sink.counts()["chained"]; n != 1 {
		t.Fatalf("the message reached the outside %d times, want once", n)
	}
	if out, ok := trackedWithin(t, cfgB, `"event": "duplicate-suppressed"`, "--event", "duplicate-suppressed"); !ok {
		t.Errorf("hub-b's tracking log has no duplicate-suppressed event for hub-c's copy: %s", out)
	}
}
