package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

// SR-1, SR-6 (shadow31 S2): hub-a makes a copy on receipt on hub-b, then
// is restarted with shadow_redundancy_enabled: false while it still
// holds the message (the sink is down). It refuses hub-b's heartbeats
// (no shadow verbs) — and advertised no database digest, so hub-b
// counted each refusal as a failed heartbeat and took the copy over
// three heartbeats later, while hub-a ran and delivered the message: a
// second delivery. The switch takes the verbs away, not the digest: hub-b
// sees hub-a refusing, alive, and keeps the copy. The test waits,
// bounded, for hub-b's fifth refused heartbeat (retry count 3); it
// asserts no duration.
func TestSR6PrimaryWithShadowRedundancyOffIsNotTakenOver(t *testing.T) {
	t.Parallel()
	o, _ := certReceiptHubsAt(t, "127.0.0.123", "127.0.0.124", "remote-only", true)
	ha, hb := o.start(t)
	o.sendCopied(t, "Subject: off-1\r\n\r\nbody")
	ha.kill()
	editConfig(t, o.cfgA, "shadow_heartbeat_retry_count: 3,", "shadow_redundancy_enabled: false, shadow_heartbeat_retry_count: 3,")
	ha = startUmbra(t, o.cfgA, o.a)
	ha.dumpLogIfFailed()
	deadline := time.Now().Add(90 * time.Second)
	for {
		b, _ := os.ReadFile(hb.log)
		log := string(b)
		if strings.Contains(log, "took over shadow copies") {
			hb.dumpLog()
			t.Fatal("hub-b took over the copy while hub-a, running with shadow redundancy off, holds and delivers it")
		}
		if strings.Count(log, "primary refused the heartbeat") >= 5 {
			break
		}
		if time.Now().After(deadline) {
			hb.dumpLog()
			t.Fatal("hub-b's heartbeats were not judged refused by hub-a five times")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st := shadowState(t, o.cfgB, "hub-a"); st != "refused" {
		out, _ := cli(t, o.cfgB, "shadow", "list")
		t.Fatalf("hub-b's shadow list gives hub-a %q, want refused:\n%s", st, out)
	}
	sink := startRecorder(t, o.sink)
	waitArrived(t, sink, []string{"off-1"}, ha)
	if n := sink.counts()["off-1"]; n != 1 {
		t.Fatalf("off-1 arrived %d times at the sink", n)
	}
}
