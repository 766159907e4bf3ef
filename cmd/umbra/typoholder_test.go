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

// rt21a H1, rt28a F3 (SR-3, SR-15, SR-17): a typo in the shadow server's
// name on the primary only (hub-b spelt hub-b2 in hub-a's topology file;
// hub-b never reloads it). hub-b states its own name, hub-b, in its
// XSHADOW reply, and its sessions to hub-a — its discard queries, its
// heartbeats — present that name, which hub-a's topology does not know:
// hub-a refuses every one of them. A copy on receipt made on hub-b then
// could never be discarded: hub-b kept it, refused, and took it over
// when hub-a died, a second delivery. One rule for both sides: a holder
// this server pushes a copy to must be one whose sessions it lets in,
// by the name it states — so no copy is made on hub-b2 while the typo
// stands (the message is accepted without one: reject_on_shadow_failure
// is off), copies are made again once the typo is fixed, and a stall of
// hub-a past timeout × retries sends nothing a second time.
func TestTypoOnPrimaryNoCopyOnHolderItRefuses(t *testing.T) {
	t.Parallel()
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
	ha.hup()
	waitCond(t, "hub-a to take the misspelt topology", 15*time.Second, func() bool { return reloads() == 1 })
	for i := 0; i < 2; i++ {
		subj := fmt.Sprintf("typo-%d", i)
		reply := rawSend(t, o.a, "a@example.org", []string{"b@remote.example"}, "Subject: "+subj+"\r\n\r\nbody")
		if !strings.HasPrefix(reply, "250") {
			t.Fatalf("reply %q: want a 250 (reject_on_shadow_failure is off)", reply)
		}
		if strings.Contains(reply, "shadow copy on hub-b2") {
			t.Errorf("reply %q: a copy was made on hub-b2, whose sessions (as hub-b) hub-a refuses", reply)
		}
		acked = append(acked, subj)
	}
	waitArrived(t, sink, acked, ha)
	if s, w := p.held(t, o.cfgB, "hub-a"); s != 0 || w != 0 {
		t.Errorf("hub-b holds %d copies of hub-a's (%d pending); want none while hub-a refuses its sessions", s, w)
	}
	if b, _ := os.ReadFile(ha.log); !strings.Contains(string(b), "no copy on receipt on a shadow server whose sessions this server refuses") {
		t.Errorf("hub-a logged no refusal of the copy on hub-b2")
	}

	renameInFile(t, topoA, "hub-b2", "hub-b")
	ha.hup()
	waitCond(t, "hub-a to take the topology put right", 15*time.Second, func() bool { return reloads() == 2 })
	if reply := rawSend(t, o.a, "a@example.org", []string{"b@remote.example"}, "Subject: fixed\r\n\r\nbody"); !strings.Contains(reply, "shadow copy on hub-b") {
		t.Fatalf("reply %q: want the copy on hub-b again once the typo is fixed", reply)
	}
	acked = append(acked, "fixed")
	waitArrived(t, sink, acked, ha)
	waitCond(t, "hub-b to drop its copies", 30*time.Second, func() bool {
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

// rt28a F3, a typo present from the first contact: hub-a's topology
// never spelt hub-b right. hub-b, stating hub-b, gets no copy on
// receipt: its sessions here are refused as no server of the
// organisation, so a copy there could never be discarded.
func TestTypoFromFirstContactNoCopyOnHolder(t *testing.T) {
	o := newReceiptHubs(t, "prefer-remote", false)
	dirA := filepath.Join(o.dir, "topo-a")
	if err := os.MkdirAll(dirA, 0o700); err != nil {
		t.Fatal(err)
	}
	topoA := twoSiteTopology(t, dirA, o.a, o.b, o.sink, "hub-a", "hub-b")
	renameInFile(t, topoA, "hub-b", "hub-b2")
	o.cfgA, o.dataA = orgHub(t, o.dir, "hub-a", o.a, topoA, shadowOnReceipt("prefer-remote", false), "")
	sink := startRecorder(t, o.sink)
	ha, _ := o.start(t)
	p := &shadowPair{}
	var acked []string
	for i := 0; i < 2; i++ {
		subj := fmt.Sprintf("first-typo-%d", i)
		reply := rawSend(t, o.a, "a@example.org", []string{"b@remote.example"}, "Subject: "+subj+"\r\n\r\nbody")
		if !strings.HasPrefix(reply, "250") {
			t.Fatalf("reply %q: want a 250 (reject_on_shadow_failure is off)", reply)
		}
		if strings.Contains(reply, "shadow copy on hub-b2") {
			t.Errorf("reply %q: a copy was made on hub-b2, whose sessions (as hub-b) hub-a refuses", reply)
		}
		acked = append(acked, subj)
	}
	waitArrived(t, sink, acked, ha)
	if s, w := p.held(t, o.cfgB, "hub-a"); s != 0 || w != 0 {
		t.Errorf("hub-b holds %d copies of hub-a's (%d pending); want none while hub-a refuses its sessions", s, w)
	}
}

// rt28a F3 between hubs that log in to each other (SASL server accounts,
// no client certificates): hub-a's topology comes to misspell hub-b as
// hub-b2. hub-b's login as hub-b is then no transport server's at hub-a
// (authenticated without the servers' rights), so its shadow sessions
// there are refused: hub-a makes no copy on it. reject_on_shadow_failure
// is on: the message is refused for want of a copy, never accepted with
// one that could not be discarded.
func TestTypoOnPrimaryNoCopyOnSASLHolder(t *testing.T) {
	a, b, sinkAddr, cfgA, cfgB := receiptOrgSASL(t, true)
	raw, err := os.ReadFile(cfgA)
	if err != nil {
		t.Fatal(err)
	}
	topo := ""
	for _, l := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(l, "topology: "); ok {
			topo = strings.TrimSpace(v)
		}
	}
	if topo == "" {
		t.Fatal("no topology in hub-a's configuration")
	}
	sink := startRecorder(t, sinkAddr)
	startUmbra(t, cfgB, b) // never reloads: it keeps its name right
	ha := startUmbra(t, cfgA, a)
	p := &shadowPair{}
	if reply := rawSend(t, a, "a@example.org", []string{"b@remote.example"}, "Subject: right\r\n\r\nhello"); !strings.Contains(reply, "shadow copy on hub-b") {
		t.Fatalf("reply %q: want the copy on hub-b before the typo", reply)
	}
	acked := []string{"right"}
	waitArrived(t, sink, acked, ha)
	waitCond(t, "hub-b to drop the first copy", 30*time.Second, func() bool { s, w := p.held(t, cfgB, "hub-a"); return s == 0 && w == 0 })

	renameInFile(t, topo, "hub-b", "hub-b2")
	ha.hup()
	waitCond(t, "hub-a to take the misspelt topology", 15*time.Second, func() bool {
		b, _ := os.ReadFile(ha.log)
		return strings.Count(string(b), "configuration reloaded") == 1
	})
	for i := 0; i < 2; i++ {
		reply := rawSend(t, a, "a@example.org", []string{"b@remote.example"}, fmt.Sprintf("Subject: sasl-typo-%d\r\n\r\nhello", i))
		if strings.HasPrefix(reply, "250") {
			t.Errorf("reply %q: want a refusal (no copy could be made: reject_on_shadow_failure is on), not a copy on hub-b2 whose sessions hub-a refuses", reply)
			acked = append(acked, fmt.Sprintf("sasl-typo-%d", i))
		}
	}
	time.Sleep(2 * time.Second) // hub-b's heartbeats: refused at hub-a
	if s, w := p.held(t, cfgB, "hub-a"); s != 0 || w != 0 {
		t.Errorf("hub-b holds %d copies of hub-a's (%d pending); want none while hub-a refuses its sessions", s, w)
	}
}
