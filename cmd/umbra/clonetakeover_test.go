package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// SR-6, SR-11 (rt27a F2): hub-c runs a copy of hub-b's data dir, taken
// while hub-b held copies on receipt of hub-a's messages. hub-a refuses
// hub-c's heartbeats (it presents hub-b's database id under its own
// name), delivers every message and hands hub-b its discards; hub-c's
// stale copies can never be discarded. Before, hub-a down for the
// takeover delay turned the refusals into failed heartbeats and hub-c
// took the copies over and delivered them: every message twice. A
// primary that refused this server's database as another server's does
// not have its copies taken over by failed heartbeats: the refusal
// stands through the outage.
func TestCloneDoesNotTakeOverCopiesOfPrimaryThatRefusedIt(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, b, c := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	sinkAddr := reserveAddr(t, "127.0.0.1")
	topo := fmt.Sprintf(`sites: [{name: a}, {name: b}]
site_links:
  - {name: a-b, sites: [a, b], cost: 10}
servers:
  - {name: hub-a, role: hub, site: a, address: %q, source_addresses: [127.0.0.1]}
  - {name: hub-b, role: hub, site: b, address: %q, source_addresses: [127.0.0.1]}
  - {name: hub-c, role: hub, site: b, address: %q, source_addresses: [127.0.0.1]}
send_connectors:
  - {name: out, address_spaces: [{domain: "*", cost: 1}], source_servers: [hub-a], smart_hosts: [%q]}
`, a, b, c, sinkAddr)
	topoPath := filepath.Join(dir, "topology.yaml")
	if err := os.WriteFile(topoPath, []byte(topo), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgA, _ := orgHub(t, dir, "hub-a", a, topoPath, shadowOnReceipt("remote-only", false), "")
	cfgB, dataB := orgHub(t, dir, "hub-b", b, topoPath, "0s", "")
	cfgC, dataC := orgHub(t, dir, "hub-c", c, topoPath, "0s", "")

	hb := startUmbra(t, cfgB, b)
	ha := startUmbra(t, cfgA, a)
	ha.dumpLogIfFailed()
	p := &shadowPair{}
	const n = 3
	subjects := sendCopiesOnB(t, p, a, cfgB, "stale", n)
	// hub-c starts on a copy of hub-b's data dir, copies and all.
	hb.kill()
	os.RemoveAll(dataC)
	copyDataDir(t, dataB, dataC)
	hb = startUmbra(t, cfgB, b)
	hc := startUmbra(t, cfgC, c)
	hc.dumpLogIfFailed()
	waitCond(t, "hub-a to refuse hub-c's heartbeat", 60*time.Second, func() bool {
		log, _ := os.ReadFile(hc.log)
		return strings.Contains(string(log), "primary refused the heartbeat")
	})

	// hub-a delivers every message; hub-b gets the discards.
	sink := startRecorder(t, sinkAddr)
	waitCond(t, "every message delivered and hub-b's copies discarded", 60*time.Second, func() bool {
		for _, s := range subjects {
			if sink.counts()[s] == 0 {
				return false
			}
		}
		s, _ := p.held(t, cfgB, "hub-a")
		return s == 0
	})
	// hub-a goes down, longer than the takeover delay (1 s × 3).
	ha.kill()
	waitCond(t, "hub-c's heartbeats to hub-a to fail past the retry count", 60*time.Second, func() bool {
		log, _ := os.ReadFile(hc.log)
		return strings.Count(string(log), `msg="heartbeat failed`)+strings.Count(string(log), "primary still unreachable") >= 5
	})
	time.Sleep(3 * time.Second) // several retry intervals: a taken-over copy would be delivered now
	for _, s := range subjects {
		if k := sink.counts()[s]; k != 1 {
			t.Errorf("%s delivered %d times; want once (hub-c, refused by hub-a as running another server's database, took its stale copy over)", s, k)
		}
	}
	if held, pending := p.held(t, cfgC, "hub-a"); held != n || pending != 0 {
		t.Errorf("hub-c holds %d copies for hub-a, %d taken over; want %d held, none taken over", held, pending, n)
	}
	// SR-6 (review of shrt27, rt27a F2): the operator's view. hub-c will
	// never take these copies over before their expiry (ErrDisowned).
	// shadow list must not announce a takeover. (Once a test of its own,
	// TestSR6DisownedPrimaryShadowListAnnouncesNoTakeover, which ran this
	// whole scenario again first.)
	t.Run("DisownedPrimaryShadowListAnnouncesNoTakeover", func(t *testing.T) {
		out, _ := cli(t, cfgC, "shadow", "list")
		if strings.Contains(out, "takeover") {
			t.Errorf("hub-c's shadow list announces a takeover of hub-a's copies, which never comes (hub-a disowned it; the copies are taken over only at their expiry):\n%s", out)
		}
	})
}
