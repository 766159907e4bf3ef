package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

// rt20c-F1: a typo renames the shadow server hub-b in the shared
// topology (hub-b2 at the same address) and both hubs get SIGHUP. hub-b
// refuses the reload (its name is no server of the file) and runs on as
// hub-b; hub-a takes it and copies on receipt to hub-b2, the same server
// and transport database. hub-a's mark for that database must go on
// from what hub-b saw: a mark counted under the new name from 0 read as
// a rolled-back primary there, hub-b took hub-a's live copies over and
// every message arrived twice. Each acknowledged message arrives once,
// and hub-b never reports hub-a rolled back (SR-7, W-2).
func TestRenamedShadowServerIsNoRollback(t *testing.T) {
	t.Parallel()
	testRenamedShadowServer(t, false)
}

// rt20c-F1 (SR-7), both ways: hub-b is also a primary of copies on hub-a
// (its record there, at hub-b's address). Once hub-b is no server of
// hub-a's topology, that record looked like one kept under a send
// connector's host name whose copies went to hub-b2's address, and
// hub-a recorded hub-b's database id under hub-b2 as well, silently. It
// is refused now (WARN, as for any other server's id), and still every
// message arrives once.
func TestRenamedShadowServerBothWaysIDNotRecordedTwice(t *testing.T) {
	t.Parallel()
	testRenamedShadowServer(t, true)
}

func testRenamedShadowServer(t *testing.T, bothWays bool) {
	o := newReceiptHubs(t, "prefer-remote", false)
	if bothWays {
		topo := twoSiteTopology(t, o.dir, o.a, o.b, o.sink, "hub-a", "hub-b")
		o.cfgB, o.dataB = orgHub(t, o.dir, "hub-b", o.b, topo, shadowOnReceipt("prefer-remote", false), "")
	}
	ha, hb := o.start(t)
	p := &shadowPair{}
	acked := sendMany(o.a, "before", 3, 1, nil)
	if bothWays {
		acked = append(acked, sendMany(o.b, "fromb", 2, 1, nil)...)
		waitCond(t, "hub-a to hold hub-b's copies", 30e9, func() bool { s, _ := p.held(t, o.cfgA, "hub-b"); return s == 2 })
	}
	waitCond(t, "hub-b to hold the first copies", 30e9, func() bool { s, _ := p.held(t, o.cfgB, "hub-a"); return s == 3 })

	renameInFile(t, twoSiteTopology(t, o.dir, o.a, o.b, o.sink, "hub-a", "hub-b"), "hub-b", "hub-b2")
	ha.hup()
	hb.hup()
	waitCond(t, "hub-a to take the renamed topology", 15*time.Second, func() bool {
		b, _ := os.ReadFile(ha.log)
		return strings.Count(string(b), "configuration reloaded") >= 1
	})
	waitCond(t, "hub-b to refuse it", 15*time.Second, func() bool {
		b, _ := os.ReadFile(hb.log)
		return strings.Contains(string(b), "reload failed")
	})

	acked = append(acked, sendMany(o.a, "after", 2, 1, nil)...)
	if want := map[bool]int{false: 5, true: 7}[bothWays]; len(acked) != want {
		t.Fatalf("%d of %d acknowledged", len(acked), want)
	}
	// A heartbeat of the renamed pair: hub-b's, answered by hub-a (a
	// fixed 2 s sleep could end before it on a loaded machine).
	waitLogCount(t, hb, refusedHeartbeat, 1)
	sink := startRecorder(t, o.sink)
	waitArrived(t, sink, acked, hb)
	quietAfterHeartbeat(t, hb, o.cfgB)
	for s, n := range sink.counts() {
		if n != 1 {
			t.Errorf("%s arrived %d times", s, n)
		}
	}
	if b, _ := os.ReadFile(hb.log); strings.Contains(string(b), "rolled back") {
		t.Errorf("hub-b took hub-a's copies over as rolled back")
	}
	if b, _ := os.ReadFile(ha.log); bothWays && !strings.Contains(string(b), "shadow server's transport database id not recorded: it is another server's") {
		t.Errorf("hub-a did not refuse hub-b's database id under the name hub-b2")
	}
}

// refusedHeartbeat is in the line hub-b logs when hub-a answers its
// heartbeat with a refusal (at WARN, then "… again" at INFO).
const refusedHeartbeat = "primary refused the heartbeat"

// quietAfterHeartbeat waits, once every message arrived, until hub-b
// (its configuration cfgB) either holds no copy of hub-a's (nothing is
// left to take over) or had a heartbeat answered (the pass that would
// take hub-a's copies over ran), and then 3 s more: a second delivery,
// if any, comes by then.
func quietAfterHeartbeat(t *testing.T, hb *daemon, cfgB string) {
	t.Helper()
	n, p := logCount(hb, refusedHeartbeat), &shadowPair{}
	waitCond(t, "hub-b to hold no copy of hub-a's, or to have a heartbeat answered", 30*time.Second, func() bool {
		s, w := p.held(t, cfgB, "hub-a")
		return s == 0 && w == 0 || logCount(hb, refusedHeartbeat) > n
	})
	time.Sleep(3 * time.Second)
}

// renameInFile replaces every from in the file at path by to.
func renameInFile(t *testing.T, path, from, to string) {
	t.Helper()
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(text), from, to)), 0o600); err != nil {
		t.Fatal(err)
	}
}

// rt20c-F1 (sibling): hub-b is renamed hub-b2 for good — in the topology
// and in its own configuration, restarted with its database. Its
// heartbeats to hub-a present its database id under the new name: hub-a
// knows that id as hub-b's and refuses them (550 5.7.1 … is another
// server's here: the copies wait, named, until the operator runs umbra
// shadow forget-database). hub-b2 states its new name in its XSHADOW
// reply (shadow verbs 20), not the name hub-a keeps the id as: hub-a makes
// no copy on receipt there — its sessions are refused at hub-a, so the
// copy could never be discarded (TestNoCopyOnReceiptOnCopiedDataDir) —
// and before verbs 20 its pushes presented the counter of hub-b's
// database, not one of the new name from 0: either way no rollback is
// read, no copy taken over, each message arrives once.
func TestShadowServerRenamedEverywhereIsNoRollback(t *testing.T) {
	t.Parallel()
	o := newReceiptHubs(t, "prefer-remote", false)
	ha, hb := o.start(t)
	p := &shadowPair{}
	acked := sendMany(o.a, "before", 3, 1, nil)
	waitCond(t, "hub-b to hold the first copies", 30e9, func() bool { s, _ := p.held(t, o.cfgB, "hub-a"); return s == 3 })

	renameInFile(t, twoSiteTopology(t, o.dir, o.a, o.b, o.sink, "hub-a", "hub-b"), "hub-b", "hub-b2")
	renameInFile(t, o.cfgB, "{name: hub-b,", "{name: hub-b2,")
	hb.kill()
	hb = startUmbra(t, o.cfgB, o.b)
	hb.dumpLogIfFailed()
	ha.hup()
	waitCond(t, "hub-a to take the renamed topology", 15*time.Second, func() bool {
		b, _ := os.ReadFile(ha.log)
		return strings.Contains(string(b), "configuration reloaded")
	})
	// hub-b2's heartbeat to hub-a, answered (refused: its database is
	// hub-b's there), before the messages after the rename; a fixed 3 s
	// sleep could end before it on a loaded machine.
	waitLogCount(t, hb, refusedHeartbeat, 1)
	acked = append(acked, sendMany(o.a, "after", 2, 1, nil)...)
	if len(acked) != 5 {
		t.Fatalf("%d of 5 acknowledged", len(acked))
	}
	sink := startRecorder(t, o.sink)
	waitArrived(t, sink, acked, hb)
	quietAfterHeartbeat(t, hb, o.cfgB)
	for s, n := range sink.counts() {
		if n != 1 {
			t.Errorf("%s arrived %d times", s, n)
		}
	}
	if b, _ := os.ReadFile(hb.log); strings.Contains(string(b), "rolled back") {
		t.Errorf("hub-b2 took hub-a's copies over as rolled back")
	}
}
