package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// SR-6, SR-7 after `umbra db restore` of a holder (README, Backup and
// restore; queue restoredhanded.go): hub-b (site b) relays a message to
// hub-a (site a, a source server of the way out, whose smart host, the
// sink, is down; hub-c, the other hub of site a, is not up yet) and
// keeps its copy. A backup of hub-b is taken. hub-a dies
// for good (kill -9); hub-b takes the copy over and hands it to hub-c in
// a shadow session; the sink comes back and hub-c delivers it. hub-b's
// database is restored from the backup: it holds the copy for hub-a
// again, and hub-a's heartbeats fail again. Its start asks every
// transport server of the topology — hub-c holds none of its messages'
// copies — which copies of the database it was restored from they hold
// or finished, and settles the copy hub-c took: it is never taken over
// a second time, and the message reaches the sink once.
func TestSR6RestoredHolderLeavesTheCopyItsPredecessorHandedOn(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const ip = "127.0.0.121"
	a, b, c := addrInRange(t, ip, 7000, 500), addrInRange(t, ip, 7000, 500), addrInRange(t, ip, 7000, 500)
	sinkAddr := addrInRange(t, ip, 7000, 500)
	for a == b || a == c || b == c || sinkAddr == a || sinkAddr == b || sinkAddr == c {
		c, sinkAddr = addrInRange(t, ip, 7000, 500), addrInRange(t, ip, 7000, 500)
	}
	topo := fmt.Sprintf(`sites: [{name: a}, {name: b}]
site_links:
  - {name: a-b, sites: [a, b], cost: 10}
servers:
  - {name: hub-a, role: hub, site: a, address: %q, source_addresses: [127.0.0.1]}
  - {name: hub-b, role: hub, site: b, address: %q, source_addresses: [127.0.0.1]}
  - {name: hub-c, role: hub, site: a, address: %q, source_addresses: [127.0.0.1]}
send_connectors:
  - {name: out, address_spaces: [{domain: "*", cost: 1}], source_servers: [hub-a, hub-c], smart_hosts: [%q]}
`, a, b, c, sinkAddr)
	topoPath := filepath.Join(dir, "topology.yaml")
	if err := os.WriteFile(topoPath, []byte(topo), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgA, _ := orgHub(t, dir, "hub-a", a, topoPath, "0s", "")
	cfgB, _ := orgHub(t, dir, "hub-b", b, topoPath, "0s", "")
	cfgC, _ := orgHub(t, dir, "hub-c", c, topoPath, "0s", "")
	// hub-c (site a, beside hub-a) starts once hub-a has the message.
	ha := startUmbra(t, cfgA, a)
	hb := startUmbra(t, cfgB, b)
	hb.dumpLogIfFailed()
	p := &shadowPair{}
	const subj = "restored-holder"
	if reply := rawSend(t, b, "s@example.org", []string{"x@remote.example"}, "Subject: "+subj+"\r\n\r\nhello\r\n"); !strings.HasPrefix(reply, "250") {
		t.Fatalf("reply %q", reply)
	}
	waitCond(t, "hub-b to hold the copy for hub-a", 60*time.Second, func() bool { s, _ := p.held(t, cfgB, "hub-a"); return s == 1 })
	backup := filepath.Join(dir, "b.bak")
	if out, code := cli(t, cfgB, "db", "backup", backup); code != 0 {
		t.Fatalf("db backup: exit %d\n%s", code, out)
	}
	hc := startUmbra(t, cfgC, c)
	hc.dumpLogIfFailed()
	ha.kill() // for good
	waitCond(t, "hub-b to take the copy over and hand it to hub-c", 60*time.Second, func() bool { s, _ := p.held(t, cfgB, "hub-c"); return s == 1 })
	sink := startRecorder(t, sinkAddr)
	waitArrived(t, sink, []string{subj}, hc)
	waitCond(t, "hub-b's queue to empty (hub-c's discard applied)", 60*time.Second, func() bool { return len(p.queued(t, cfgB)) == 0 })

	hb.kill()
	if out, code := cli(t, cfgB, "db", "restore", backup); code != 0 {
		t.Fatalf("db restore: exit %d\n%s", code, out)
	}
	logBefore, _ := os.ReadFile(hb.log)
	hb = startUmbra(t, cfgB, b)
	// Restored, hub-b holds the copy for hub-a again; hub-a's heartbeats
	// fail (1 s × 3). The copy goes without a takeover: hub-c owns it.
	waitCond(t, "the restored hub-b to let the copy hub-c took go", 60*time.Second, func() bool {
		s, pending := p.held(t, cfgB, "hub-a")
		return s == 0 && pending == 0
	})
	// hub-b logs that hub-c owns the copy after the commit that let it
	// go, which the count above can show first: wait for the line.
	waitCond(t, "the restored hub-b's log to say hub-c owns the copy", 10*time.Second, func() bool {
		logAll, _ := os.ReadFile(hb.log)
		return strings.Contains(string(logAll[len(logBefore):]), "handed to another transport server by the database this one was restored from")
	})
	time.Sleep(5 * time.Second) // past the takeover bound: a takeover would have happened now
	logAll, _ := os.ReadFile(hb.log)
	restored := string(logAll[len(logBefore):])
	for _, l := range strings.Split(restored, "\n") {
		if strings.Contains(l, "took over shadow copies") && strings.Contains(l, "primary=hub-a") && !strings.Contains(l, "messages=0") {
			t.Errorf("the restored hub-b took the copy for hub-a over again: %s", l)
		}
	}
	if n := sink.counts()[subj]; n != 1 {
		t.Fatalf("%s reached the sink %d times, want 1", subj, n)
	}
}
