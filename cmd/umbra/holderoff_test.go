package main

import (
	"strings"
	"testing"
)

// SR-1, SR-6 (sites49 F1): hub-b holds a copy of hub-a's message and is
// restarted with shadow_redundancy_enabled: false. The switch stops new
// copies only: hub-b keeps watching hub-a for the copy it holds, so when
// hub-a is killed for good the copy is taken over and delivered. Before,
// a server started with the switch off ran no heartbeat at all and the
// copy sat in shadow:hub-a for ever: an acknowledged message lost to one
// failure after a configuration change.
func TestSR6HolderWithShadowRedundancyOffStillTakesOver(t *testing.T) {
	t.Parallel()
	o, _ := certReceiptHubs(t, "remote-only", true)
	ha, hb := o.start(t)
	o.sendCopied(t, "Subject: holder-off-1\r\n\r\nbody")
	hb.kill()
	editConfig(t, o.cfgB, "shadow_heartbeat_retry_count: 3,", "shadow_redundancy_enabled: false, shadow_heartbeat_retry_count: 3,")
	hb = startUmbra(t, o.cfgB, o.b)
	hb.dumpLogIfFailed()
	if out, _ := cli(t, o.cfgB, "shadow", "list"); !strings.Contains(out, "hub-a") {
		t.Fatalf("hub-b's shadow list, shadow redundancy off with a copy of hub-a's held: no hub-a row:\n%s", out)
	}
	ha.kill()
	sink := startRecorder(t, o.sink)
	waitArrived(t, sink, []string{"holder-off-1"}, hb)
	if n := sink.counts()["holder-off-1"]; n != 1 {
		t.Fatalf("holder-off-1 arrived %d times at the sink", n)
	}
}
