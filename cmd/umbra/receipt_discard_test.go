package main

import (
	"testing"
	"time"
)

// SR-17: a peer's copies on receipt go as soon as the primary delivered,
// not at the next heartbeat: the copy's commit on hub-b opens a watch
// session to hub-a, on which hub-a pushes each discard as it commits.
// hub-b's heartbeats come every 300 s here, so only that push can drop
// the copies within the bound.
func TestShadowOnReceiptDiscardedWithoutHeartbeat(t *testing.T) {
	a, b, sinkAddr, cfgA, _, cfgB := receiptOrg(t, "prefer-remote")
	editConfig(t, cfgB, "shadow_heartbeat_timeout: 1s", "shadow_heartbeat_timeout: 300s")
	sink := startRecorder(t, sinkAddr)
	startUmbra(t, cfgB, b)
	ha := startUmbra(t, cfgA, a)
	acked := sendMany(a, "sorw", 5, 2, nil)
	waitArrived(t, sink, acked, ha)
	p := &shadowPair{}
	start := time.Now()
	waitCond(t, "hub-b to drop its copies before any heartbeat", 30*time.Second, func() bool { return len(p.queued(t, cfgB)) == 0 })
	t.Logf("copies dropped %s after the last delivery", time.Since(start).Round(time.Millisecond))
	for s, n := range sink.counts() {
		if n != 1 {
			t.Errorf("%s arrived %d times", s, n)
		}
	}
}
