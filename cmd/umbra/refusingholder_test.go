package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"umbra/internal/admin"
)

// SR-6 from the primary's side, a holder that answers and refuses
// (holders49 item 1): hub-b holds the copy of a message queued on hub-a,
// then its topology is reloaded with another source address for hub-a,
// so it refuses hub-a's probes (a 5xx to XSHADOW) while its own
// heartbeats to hub-a go on. It is up, with its database: the copy there
// is not lost — hub-b takes it over if hub-a dies. hub-a does not take it
// as lost at the takeover bound nor say "not reachable"; it says hub-b
// refuses, with the reply. Once hub-a delivered the message, hub-b
// drops its copy (its discard, fetched by its own query), and hub-a
// killed -9 then leaves no second delivery.
func TestSR6RefusingHolderKeepsItsCopyAndGetsItsDiscard(t *testing.T) {
	t.Parallel()
	o := &receiptHubs{dir: t.TempDir(), a: freeAddr(t, "127.0.0.125"), b: freeAddr(t, "127.0.0.125"), sink: reserveAddr(t, "127.0.0.125")}
	topoPath := twoSiteTopology(t, o.dir, o.a, o.b, o.sink, "hub-a", "hub-b")
	// hub-b reads a topology file of its own: the reload changes its
	// view of hub-a only.
	topoB := filepath.Join(o.dir, "topology-b.yaml")
	b, err := os.ReadFile(topoPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(topoB, b, 0o600); err != nil {
		t.Fatal(err)
	}
	o.cfgA, o.dataA = orgHub(t, o.dir, "hub-a", o.a, topoPath, shadowOnReceipt("prefer-remote", false), "")
	o.cfgB, o.dataB = orgHub(t, o.dir, "hub-b", o.b, topoB, "0s", "")
	ha, hb := o.start(t)
	if _, code := cli(t, o.cfgA, "queue", "suspend", "smarthost:out"); code != 0 {
		t.Fatal("suspend smarthost:out on hub-a")
	}
	o.sendCopied(t, "Subject: refused\r\n\r\nhello\r\n")
	p := &shadowPair{}
	waitCond(t, "hub-b to hold the copy for hub-a", 30*time.Second, func() bool { s, _ := p.held(t, o.cfgB, "hub-a"); return s == 1 })
	var ms []admin.MessageView
	if out, _ := cli(t, o.cfgA, "message", "list", "--json"); json.Unmarshal([]byte(out), &ms) != nil || len(ms) != 1 {
		t.Fatalf("hub-a's messages: %s", out)
	}
	id := ms[0].ID

	reloadDaemon(t, hb, func() {
		editConfig(t, topoB, "address: "+strconv.Quote(o.a)+", source_addresses: [127.0.0.1]", "address: "+strconv.Quote(o.a)+", source_addresses: [127.0.0.9]")
	})
	waitLogCount(t, ha, "shadow server refuses this server's probe", 1)
	refused := time.Now()
	// The takeover bound (1 s × 3) and two passes beyond it.
	time.Sleep(time.Until(refused.Add(6 * time.Second)))
	log, _ := os.ReadFile(ha.log)
	if strings.Contains(string(log), "not reachable for the takeover bound") {
		t.Errorf("hub-a took the copy on hub-b, which answers and refuses, as on a server not reachable:\n%s", grepLines(string(log), "takeover bound"))
	}
	if out, _ := cli(t, o.cfgA, "message", "show", id); strings.Contains(out, "held by this server only") {
		t.Errorf("message show says the copy on the refusing hub-b is lost:\n%s", out)
	}
	if out, _ := cli(t, o.cfgA, "shadow", "single"); strings.Contains(out, id) {
		t.Errorf("shadow single lists the message whose copy the refusing hub-b holds:\n%s", out)
	}

	sink := startRecorder(t, o.sink)
	if _, code := cli(t, o.cfgA, "queue", "resume", "smarthost:out"); code != 0 {
		t.Fatal("resume smarthost:out on hub-a")
	}
	waitArrived(t, sink, []string{"refused"}, ha)
	waitCond(t, "hub-b to drop its copy (its discard)", 30*time.Second, func() bool { s, pend := p.held(t, o.cfgB, "hub-a"); return s == 0 && pend == 0 })
	ha.kill()
	time.Sleep(6 * time.Second) // hub-b's takeover bound (3 s) and more: a second delivery would land now
	if n := sink.counts()["refused"]; n != 1 {
		t.Fatalf("the message reached the outside %d times, want once", n)
	}
}
