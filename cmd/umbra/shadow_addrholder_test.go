package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// SR-17: README, Shadow redundancy: "its own sessions here (its discard
// queries, heartbeats, watch) open their shadow session under that name,
// by its certificate, its server account or its address, and are refused
// otherwise. One rule for both sides: a holder gets a copy only if its
// sessions here are let in." hub-a's topology lists hub-b (its right
// name) at its listening address but without the source address its
// sessions come from (127.0.0.1): on hub-a's externally secured
// connector every shadow session of hub-b's is refused ("Server id does
// not match the connection's address"), its discard queries too. A
// fresh start has seen none refused: the first copy goes (README). Once
// hub-b's sessions were refused here, no further copy on receipt is
// made there — each would be kept after hub-a delivered the message,
// never discarded, and taken over (a second delivery) when hub-a fails.
func TestSR17HolderRefusedByAddressGetsNoCopy(t *testing.T) {
	o := newReceiptHubs(t, "prefer-remote", false)
	dirA := filepath.Join(o.dir, "topo-a")
	if err := os.MkdirAll(dirA, 0o700); err != nil {
		t.Fatal(err)
	}
	topoA := twoSiteTopology(t, dirA, o.a, o.b, o.sink, "hub-a", "hub-b")
	text, _ := os.ReadFile(topoA)
	fixed := strings.Replace(string(text), "{name: hub-b, role: hub, site: b, address: \""+o.b+"\", source_addresses: [127.0.0.1]}",
		"{name: hub-b, role: hub, site: b, address: \""+o.b+"\"}", 1)
	if fixed == string(text) {
		t.Fatalf("topology not edited:\n%s", text)
	}
	os.WriteFile(topoA, []byte(fixed), 0o600)
	o.cfgA, o.dataA = orgHub(t, o.dir, "hub-a", o.a, topoA, shadowOnReceipt("prefer-remote", false), "")
	sink := startRecorder(t, o.sink)
	ha, _ := o.start(t)
	p := &shadowPair{}
	reply := rawSend(t, o.a, "a@example.org", []string{"b@remote.example"}, "Subject: addr\r\n\r\nbody")
	if !strings.HasPrefix(reply, "250") {
		t.Fatalf("reply %q", reply)
	}
	waitArrived(t, sink, []string{"addr"}, ha)
	// hub-b's watch and heartbeats (1 s) for the first copy meanwhile.
	waitLogCount(t, ha, "connection is not from an address of that server", 1)
	s1, w1 := p.held(t, o.cfgB, "hub-a")
	reply2 := rawSend(t, o.a, "a@example.org", []string{"b@remote.example"}, "Subject: addr2\r\n\r\nbody")
	if strings.HasPrefix(reply2, "250") {
		waitArrived(t, sink, []string{"addr2"}, ha)
	}
	s2, w2 := p.held(t, o.cfgB, "hub-a")
	t.Logf("second message: %q; hub-b holds %d (%d pending), %d (%d) before", reply2, s2, w2, s1, w1)
	if s2+w2 > s1+w1 {
		ha.dumpLog()
		t.Fatalf("reply %q; hub-a refuses hub-b's shadow sessions (by address), yet made another copy on receipt there: hub-b holds %d copies of hub-a's (%d pending), %d (%d) before the second message — never to be discarded, a second delivery when hub-a fails (README: one rule for both sides)", reply2, s2, w2, s1, w1)
	}
	waitLogCount(t, ha, "no copy on receipt on a shadow server whose sessions this server refuses", 1)

	// shadow29 item 2: the refusal is in hub-a's transport database, so
	// it survives hub-a's kill -9 and restart: the first message after
	// the start makes no copy on hub-b either (it was memory only: that
	// message's copy went to hub-b, never to be discarded).
	ha.kill()
	ha = startUmbra(t, o.cfgA, o.a)
	ha.dumpLogIfFailed()
	if reply3 := rawSend(t, o.a, "a@example.org", []string{"b@remote.example"}, "Subject: addr3\r\n\r\nbody"); strings.Contains(reply3, "shadow copy on hub-b") {
		t.Fatalf("first message after hub-a's restart: %q — a copy on hub-b, whose shadow sessions hub-a refused before the restart", reply3)
	}
}
