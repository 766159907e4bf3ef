package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sites48 F2 (SR-15, SR-16): a holder removed from the topology is not
// unreachable. hub-a makes copies on hub-b with the sink down; a reload
// removes hub-b from hub-a's topology (hub-c, never started, in its
// place), and hub-b runs on. No probe goes to a server the topology does
// not name and hub-b's own sessions are refused at hub-a, so at the
// takeover bound hub-a took hub-b's copies as lost — WARN "shadow server
// not reachable for the takeover bound", the messages held by hub-a
// only (umbra shadow single) — while the hand-over of discards
// (XDISCARD at each pass of the holders) reached hub-b; with another
// holder at hand the copy was made again there and the discard of
// hub-b's own copy never written: hub-b took it over at hub-a's kill -9
// and delivered it a second time. The hand-over reaching hub-b as the
// holder answers for it: its copies stay its, nothing is marked lost,
// the discards reach it once the messages are done, and after hub-a's
// kill -9 each message has arrived once.
func TestRemovedHolderReachedByHandOverIsNotLost(t *testing.T) {
	o, _ := certReceiptHubsAt(t, "127.0.0.165", "127.0.0.167", "remote-only", true)
	ha, _ := o.start(t)
	sent := []string{}
	for i := range 3 {
		s := fmt.Sprintf("kept-%d", i)
		o.sendCopied(t, "Subject: "+s+"\r\n\r\nbody")
		sent = append(sent, s)
	}
	topoA := topologyWithoutHubB(t, o, "127.0.0.168")
	reloadDaemon(t, ha, func() {
		editConfig(t, o.cfgA, "topology: "+filepath.Join(o.dir, "topology.yaml"), "topology: "+topoA)
	})
	// The takeover bound (1 s × 3) passes three times over, with the
	// holders' pass every second: nothing to wait for — what is checked
	// is that no mark comes.
	time.Sleep(9 * time.Second)
	if b, _ := os.ReadFile(ha.log); strings.Contains(string(b), "not reachable for the takeover bound") {
		t.Errorf("hub-a took the copies on hub-b, reached by its hand-over, as lost (not reachable)")
	}
	if out, _ := cli(t, o.cfgA, "shadow", "single"); strings.Contains(out, "hub-b") {
		t.Errorf("messages held by hub-a only, though hub-b holds their copies:\n%s", out)
	}

	sink := startRecorder(t, o.sink)
	waitArrived(t, sink, sent, ha)
	waitCond(t, "hub-b, removed from hub-a's topology, to get the discards of its copies", 60*time.Second, func() bool {
		p := &shadowPair{}
		s, w := p.held(t, o.cfgB, "hub-a")
		return s == 0 && w == 0
	})
	ha.kill()
	time.Sleep(5 * time.Second) // hub-b's heartbeats fail (1 s × 3): a copy left would be taken over by now
	for _, s := range sent {
		if n := sink.counts()[s]; n != 1 {
			t.Errorf("%q arrived %d times at the sink", s, n)
		}
	}
}
