package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// rt21a H1 (SR-3, SR-15): a typo in the shadow server's name on the
// primary only (hub-b spelt hub-b2 in hub-a's topology file; hub-b
// never reloads it). hub-a pushes copies on receipt to hub-b2, the
// address and transport database of hub-b, and files their discard
// notifications under hub-b2 after the delivery; hub-b asks as hub-b.
// They stayed filed there after the typo was fixed, the copies waited
// for XQUERYHELD (an hour), and any takeover in between — here a stall
// of hub-a past timeout × retries — sent the messages a second time.
// The notifications reach the server that holds the copies: hub-b
// drops them once the typo is fixed, and the stall sends nothing again.
func TestTypoOnPrimaryDiscardsReachHolder(t *testing.T) {
	o := newReceiptHubs(t, "prefer-remote", false)
	// hub-a reads a topology file of its own, so that the typo is on
	// the primary only.
	dirA := filepath.Join(o.dir, "topo-a")
	if err := os.MkdirAll(dirA, 0o700); err != nil {
		t.Fatal(err)
	}
	topoA := twoSiteTopology(t, dirA, o.a, o.b, o.sink, "hub-a", "hub-b")
	o.cfgA, o.dataA = orgHub(t, o.dir, "hub-a", o.a, topoA, shadowOnReceipt("prefer-remote", false), "")
	sink := startRecorder(t, o.sink)
	ha, hb := o.start(t)
	p := &shadowPair{}
	acked := sendMany(o.a, "before", 1, 1, nil)
	waitArrived(t, sink, acked, hb)
	waitCond(t, "hub-b to drop the first copy", 30*time.Second, func() bool { s, w := p.held(t, o.cfgB, "hub-a"); return s == 0 && w == 0 })

	reloads := func() int { b, _ := os.ReadFile(ha.log); return strings.Count(string(b), "configuration reloaded") }
	renameInFile(t, topoA, "hub-b", "hub-b2")
	ha.cmd.Process.Signal(syscall.SIGHUP)
	waitCond(t, "hub-a to take the misspelt topology", 15*time.Second, func() bool { return reloads() == 1 })
	for i := 0; i < 2; i++ {
		subj := fmt.Sprintf("typo-%d", i)
		if reply := rawSend(t, o.a, "a@example.org", []string{"b@remote.example"}, "Subject: "+subj+"\r\n\r\nbody"); !strings.Contains(reply, "shadow copy on hub-b2") {
			t.Fatalf("reply %q: want a 250 naming the copy on hub-b2", reply)
		}
		acked = append(acked, subj)
	}
	waitArrived(t, sink, acked, ha)

	renameInFile(t, topoA, "hub-b2", "hub-b")
	ha.cmd.Process.Signal(syscall.SIGHUP)
	waitCond(t, "hub-a to take the topology put right", 15*time.Second, func() bool { return reloads() == 2 })
	waitCond(t, "hub-b to drop the copies discarded under the misspelt name", 30*time.Second, func() bool {
		s, w := p.held(t, o.cfgB, "hub-a")
		return s == 0 && w == 0
	})

	// A stall of hub-a past timeout × retries (1 s × 3): nothing is
	// left on hub-b to take over.
	ha.cmd.Process.Signal(syscall.SIGSTOP)
	time.Sleep(6 * time.Second)
	ha.cmd.Process.Signal(syscall.SIGCONT)
	time.Sleep(3 * time.Second) // a second delivery, if any, comes now
	for s, n := range sink.counts() {
		if n != 1 {
			t.Errorf("%s arrived %d times", s, n)
		}
	}
}
