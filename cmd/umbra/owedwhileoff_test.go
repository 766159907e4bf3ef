package main

import (
	"fmt"
	"testing"
	"time"
)

// SR-15 (rt31a F1's class): hub-a made copies on hub-b, then was killed
// -9 and started again with shadow_redundancy_enabled false. It offers
// no shadow verbs now (502 5.5.1), so hub-b's queries fetch nothing,
// and there is no holders' pass to push: the discards hub-a owed for
// the messages it delivered stayed owed, even at its stop, and hub-b
// took the copies over when hub-a died — a second delivery of each.
// hub-a hands them over while its shadow redundancy is off. hub-b's
// heartbeats are 5 s apart, so that the moment hub-a is down is no
// takeover. The test waits, bounded, for hub-b to hold nothing of
// hub-a's; it asserts no duration.
func TestSR15DiscardsPushedWhileShadowRedundancyOff(t *testing.T) {
	o, _ := certReceiptHubsAt(t, "127.0.0.180", "127.0.0.181", "remote-only", true)
	editConfig(t, o.cfgB, "shadow_heartbeat_timeout: 1s", "shadow_heartbeat_timeout: 5s")
	ha, hb := o.start(t)
	sent := []string{}
	for i := range 3 {
		s := fmt.Sprintf("copied-%d", i)
		o.sendCopied(t, "Subject: "+s+"\r\n\r\nbody")
		sent = append(sent, s)
	}
	ha.kill()
	editConfig(t, o.cfgA, "shadow_heartbeat_retry_count: 3,", "shadow_redundancy_enabled: false, shadow_heartbeat_retry_count: 3,")
	editConfig(t, o.cfgA, "\n    shadow_on_receipt: remote-only\n    reject_on_shadow_failure: true", "")
	ha = startUmbra(t, o.cfgA, o.a)
	ha.dumpLogIfFailed()
	hb.kill()
	hb = startUmbra(t, o.cfgB, o.b)
	hb.dumpLogIfFailed()
	sink := startRecorder(t, o.sink)
	waitArrived(t, sink, sent, ha)
	waitCond(t, "hub-b to get the discards hub-a owes it with its shadow redundancy off", 60*time.Second, func() bool {
		p := &shadowPair{}
		s, w := p.held(t, o.cfgB, "hub-a")
		return s == 0 && w == 0
	})
	// hub-a writes the line when the push's answer comes back, after
	// hub-b committed the discards: wait for it.
	waitLogCount(t, ha, "shadow redundancy is off here, so its own queries are refused", 1)
	for _, s := range sent {
		if n := sink.counts()[s]; n != 1 {
			t.Fatalf("%q arrived %d times at the sink", s, n)
		}
	}
}
