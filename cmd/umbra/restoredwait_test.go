package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// rt19 fixa19 item 4 (SR-7, SR-6): a copy brought back by umbra db
// restore whose primary is down for less than the takeover bound
// (shadow_heartbeat_timeout × shadow_heartbeat_retry_count: 10 s here)
// waits for the primary as any copy does: its heartbeats fail, nothing
// is taken over, and when the primary answers again the restored copies
// of the messages it finished after the backup are asked about and
// dropped — none is delivered twice.
func TestRestoredCopyWaitsForPrimaryDownLessThanTakeover(t *testing.T) {
	t.Parallel()
	a, b, sinkAddr, cfgA, _, cfgB := receiptOrg(t, "prefer-remote")
	editConfig(t, cfgB, "shadow_heartbeat_retry_count: 3", "shadow_heartbeat_retry_count: 10")
	hb := startUmbra(t, cfgB, b)
	hb.dumpLogIfFailed()
	ha := startUmbra(t, cfgA, a) // the sink is down: hub-a keeps the mail
	acked := sendAll(t, ha, a, "rwait", 3, 1)
	p := &shadowPair{}
	waitCond(t, "hub-b to hold the copies for hub-a", 30*time.Second, func() bool { s, _ := p.held(t, cfgB, "hub-a"); return s == 3 })
	backup := filepath.Join(t.TempDir(), "hub-b.backup")
	if out, code := cli(t, cfgB, "db", "backup", backup); code != 0 {
		t.Fatalf("db backup: exit %d\n%s", code, out)
	}
	sink := startRecorder(t, sinkAddr)
	waitArrived(t, sink, acked, ha)
	waitCond(t, "hub-b to drop the copies of the delivered messages", 30*time.Second, func() bool {
		s, pend := p.held(t, cfgB, "hub-a")
		return s == 0 && pend == 0
	})
	// hub-a goes down; hub-b is restored (the finished messages' copies
	// come back) and starts while hub-a is down.
	ha.kill()
	hb.kill()
	if out, code := cli(t, cfgB, "db", "restore", backup); code != 0 {
		t.Fatalf("db restore: exit %d\n%s", code, out)
	}
	down := time.Now()
	hb = startUmbra(t, cfgB, b)
	if s, _ := p.held(t, cfgB, "hub-a"); s != 3 {
		t.Fatalf("restored hub-b holds %d copies for hub-a, want the backup's 3", s)
	}
	waitCond(t, "restored hub-b's heartbeats to hub-a to fail", 30*time.Second, func() bool {
		out, _ := os.ReadFile(hb.log)
		return strings.Contains(string(out), "heartbeat failed") && time.Since(down) > 4*time.Second
	})
	ha = startUmbra(t, cfgA, a) // back within the takeover bound
	t.Logf("hub-a down for %v", time.Since(down).Round(100*time.Millisecond))
	waitCond(t, "restored hub-b to drop the restored copies hub-a is done with", 30*time.Second, func() bool {
		s, pend := p.held(t, cfgB, "hub-a")
		return s == 0 && pend == 0
	})
	time.Sleep(2 * time.Second) // a copy taken over would arrive now
	for s, n := range sink.counts() {
		if n != 1 {
			t.Errorf("%s arrived %d times", s, n)
		}
	}
	if out, _ := os.ReadFile(hb.log); strings.Contains(string(out), "took over shadow copies") {
		t.Errorf("restored hub-b took copies over while hub-a was down for less than the takeover bound")
	}
}
