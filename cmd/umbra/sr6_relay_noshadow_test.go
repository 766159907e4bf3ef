package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

// Review of shrt27 (rt27a F1), SR-6, SR-10: hub-c is a transport server
// of the topology that runs with transport.shadow_redundancy_enabled:
// false (a supported setting: it offers no XSHADOW, nothing is copied)
// and is the only way out (the source of the internet connector). hub-a
// is killed -9 after hub-b made copies on receipt; hub-b takes them over
// and must relay them on through hub-c. No clone anywhere. Since rt27a
// F1 the taken-over copies are never relayed to hub-c: each attempt is
// 451 4.4.0 "Not relayed to hub-c: it refused the shadow session" until
// message_expiration, then a failure DSN — mail whose primary is dead
// is never delivered although its only route is healthy.
func TestSR6TakenOverCopyRelayedThroughServerWithoutShadowRedundancy(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, b, c := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	sinkAddr := reserveAddr(t, "127.0.0.1")
	topoPath := exitSiteTopology(t, dir, a, b, c, sinkAddr)
	cfgA, _ := orgHub(t, dir, "hub-a", a, topoPath, shadowOnReceipt("remote-only", false), "")
	cfgB, _ := orgHub(t, dir, "hub-b", b, topoPath, "0s", "")
	cfgC, _ := orgHub(t, dir, "hub-c", c, topoPath, "0s", "")
	raw, err := os.ReadFile(cfgC)
	if err != nil {
		t.Fatal(err)
	}
	off := strings.Replace(string(raw), "shadow_heartbeat_retry_count: 3}", "shadow_heartbeat_retry_count: 3, shadow_redundancy_enabled: false}", 1)
	if off == string(raw) {
		t.Fatal("could not turn shadow redundancy off in hub-c's file")
	}
	if err := os.WriteFile(cfgC, []byte(off), 0o600); err != nil {
		t.Fatal(err)
	}

	hb := startUmbra(t, cfgB, b)
	hb.dumpLogIfFailed()
	ha := startUmbra(t, cfgA, a)
	p := &shadowPair{}
	const n = 3
	sendCopiesOnB(t, p, a, cfgB, "noshadow", n)
	ha.kill() // hub-a is gone for good
	waitCond(t, "hub-b to take the copies over", 60*time.Second, func() bool { s, _ := p.held(t, cfgB, "hub-a"); return s == 0 })

	sink := startRecorder(t, sinkAddr)
	hc := startUmbra(t, cfgC, c)
	hc.dumpLogIfFailed()
	delivered := func() int {
		k := 0
		for _, v := range sink.counts() {
			k += v
		}
		return k
	}
	deadline := time.Now().Add(45 * time.Second)
	for time.Now().Before(deadline) && delivered() < n {
		time.Sleep(500 * time.Millisecond)
	}
	if got := delivered(); got < n {
		dests, _ := cli(t, cfgB, "queue", "destinations")
		t.Errorf("hub-a is dead; hub-b took its %d copies over, and hub-c (shadow redundancy off, the only way out) got %d of them to the sink in 45 s; hub-b's destinations:\n%s", n, got, dests)
	}
}
