package main

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// SR-15, SR-17 (rt31a F1): a reload took accept-xshadow from hub-a's
// connector, so hub-a answers hub-b's shadow sessions `502 5.5.1 XSHADOW
// not available` — a refusal of hub-b's sessions like any other (its
// address, its certificate, its right, the topology). Before, that reply
// was noted nowhere: hub-a went on making a copy on hub-b for every
// message, showed no row for it, logged nothing, and never handed hub-b
// the discards it owed (hub-b's own queries were refused); killed -9,
// hub-a's messages were all delivered a second time by hub-b. hub-b is
// restarted after the reload, so no session of it let in before the
// reload is left to fetch the discards. The test waits, bounded, for
// hub-a's refused row and for hub-b to hold nothing of hub-a's; it
// asserts no duration.
func TestSR17HolderRefusedByUnofferedVerbTakesRefusedPath(t *testing.T) {
	t.Parallel()
	unofferedVerbTakesRefusedPath(t, "127.0.0.180", "127.0.0.181", false)
}

// SR-15, SR-17 (rt31a F1, at a restart): the same, hub-a killed -9 and
// started again without accept-xshadow. hub-b's heartbeats are 5 s
// apart here, so that the moment hub-a is down is no takeover.
func TestSR17HolderRefusedByUnofferedVerbAfterRestart(t *testing.T) {
	t.Parallel()
	unofferedVerbTakesRefusedPath(t, "127.0.0.188", "127.0.0.189", true)
}

func unofferedVerbTakesRefusedPath(t *testing.T, ipA, ipB string, restart bool) {
	o, _ := certReceiptHubsAt(t, ipA, ipB, "remote-only", true)
	if restart {
		editConfig(t, o.cfgB, "shadow_heartbeat_timeout: 1s", "shadow_heartbeat_timeout: 5s")
	}
	ha, hb := o.start(t)
	for i := range 2 {
		o.sendCopied(t, fmt.Sprintf("Subject: before-%d\r\n\r\nbody", i))
	}
	noXShadow := func() {
		editConfig(t, o.cfgA, "servers: [submit, relay, accept-xshadow]", "servers: [submit, relay]")
	}
	if restart {
		ha.kill()
		noXShadow()
		ha = startUmbra(t, o.cfgA, o.a)
		ha.dumpLogIfFailed()
	} else {
		reloadDaemon(t, ha, noXShadow)
	}
	hb.kill()
	hb = startUmbra(t, o.cfgB, o.b)
	hb.dumpLogIfFailed()
	waitCond(t, "hub-a's shadow list to show hub-b refused", 60*time.Second, func() bool {
		return shadowState(t, o.cfgA, "hub-b") == "refused"
	})
	if b, _ := os.ReadFile(ha.log); !strings.Contains(string(b), "shadow session refused") {
		t.Fatal("hub-a does not log the refusal of hub-b's shadow sessions")
	}
	sent := []string{"before-0", "before-1"}
	copies := 0
	for i := range 4 {
		subject := fmt.Sprintf("after-%d", i)
		r := rawSend(t, o.a, "a@example.org", []string{"b@remote.example"}, "Subject: "+subject+"\r\n\r\nbody")
		if strings.HasPrefix(r, "250") {
			sent = append(sent, subject)
			if strings.Contains(r, "shadow copy on hub-b") {
				copies++
			}
		}
	}
	if copies > 1 {
		t.Fatalf("hub-a made %d copies on hub-b, whose sessions it refuses, within a minute: want at most one", copies)
	}
	sink := startRecorder(t, o.sink)
	waitArrived(t, sink, sent, ha)
	waitCond(t, "hub-b, whose sessions hub-a refuses, to get the discards of its copies", 60*time.Second, func() bool {
		p := &shadowPair{}
		s, w := p.held(t, o.cfgB, "hub-a")
		return s == 0 && w == 0
	})
	// hub-a writes the line when the push's answer comes back, after
	// hub-b committed the discards: wait for it.
	waitLogCount(t, ha, "discard notifications handed to a shadow server whose sessions this server refuses", 1)
	for _, s := range sent {
		if n := sink.counts()[s]; n != 1 {
			t.Fatalf("%q arrived %d times at the sink", s, n)
		}
	}
}
