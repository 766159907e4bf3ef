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

// rt19 fixa19 item 3 (SR-17): a message that left this server before
// its copy on receipt gave up is not reported as held by this server
// only. hub-a and hub-c (site a) and hub-b (site b), the only server
// that sends out; hub-a copies on receipt to hub-c only (local-only)
// and relays to hub-b in a shadow session. hub-c stops (SIGSTOP) after
// a first copy: the next message's copy hangs to its bound while the
// message goes to hub-b and out, and its relay copy is discarded. The
// reply, the log and the metric say the message left before its copy
// was made — not "no shadow copy". Its push hung after its data was
// written (a one-trip push, read by hub-c's kernel), so hub-c may hold
// the copy: they say so too, not "no copy needed" (rcpt44 item 2), and
// hub-a owes hub-c the copy's discard.
func TestReceiptCopyGivenUpAfterMessageLeftIsNoSingleCopy(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, b, c, sinkAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.2"), freeAddr(t, "127.0.0.3"), reserveAddr(t, "127.0.0.1")
	topo := fmt.Sprintf(`sites: [{name: a}, {name: b}]
site_links:
  - {name: a-b, sites: [a, b], cost: 10}
servers:
  - {name: hub-a, role: hub, site: a, address: %q, source_addresses: [127.0.0.1]}
  - {name: hub-b, role: hub, site: b, address: %q, source_addresses: [127.0.0.1]}
  - {name: hub-c, role: hub, site: a, address: %q, source_addresses: [127.0.0.1]}
send_connectors:
  - {name: out, address_spaces: [{domain: "*", cost: 1}], source_servers: [hub-b], smart_hosts: [%q]}
`, a, b, c, sinkAddr)
	topoPath := filepath.Join(dir, "topology.yaml")
	if err := os.WriteFile(topoPath, []byte(topo), 0o600); err != nil {
		t.Fatal(err)
	}
	metricsA := freeAddr(t, "127.0.0.1")
	cfgA, _ := orgHub(t, dir, "hub-a", a, topoPath, shadowOnReceipt("local-only", false), "")
	editConfig(t, cfgA, `metrics_listen: ""`, fmt.Sprintf("metrics_listen: %q", metricsA))
	cfgB, _ := orgHub(t, dir, "hub-b", b, topoPath, "0s", "")
	cfgC, _ := orgHub(t, dir, "hub-c", c, topoPath, "0s", "")
	sink := startRecorder(t, sinkAddr)
	hb := startUmbra(t, cfgB, b)
	hc := startUmbra(t, cfgC, c)
	ha := startUmbra(t, cfgA, a)
	ha.dumpLogIfFailed()
	hb.dumpLogIfFailed()
	if reply := rawSend(t, a, "a@example.org", []string{"x@remote.example"}, "Subject: left-first\r\n\r\nhello"); !strings.Contains(reply, "shadow copy on hub-c") {
		t.Fatalf("first reply %q: want the copy on hub-c", reply)
	}
	waitArrived(t, sink, []string{"left-first"}, hb)
	if err := hc.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer hc.cmd.Process.Signal(syscall.SIGCONT)
	start := time.Now()
	reply := rawSend(t, a, "a@example.org", []string{"x@remote.example"}, "Subject: left-second\r\n\r\nhello")
	t.Logf("reply after %v: %q", time.Since(start).Round(100*time.Millisecond), reply)
	if sink.counts()["left-second"] != 1 {
		t.Fatalf("the message had not left before the reply (%v)", sink.counts())
	}
	if !strings.HasPrefix(reply, "250") || strings.Contains(reply, "no shadow copy") || !strings.Contains(reply, "left this server before its shadow copy was confirmed") {
		t.Fatalf("reply %q: want a 250 saying the message left before its copy was confirmed", reply)
	}
	logA, _ := os.ReadFile(ha.log)
	if strings.Contains(string(logA), "message held by this server only") {
		t.Errorf("hub-a warns of a message held by it only")
	}
	if strings.Contains(string(logA), "no copy needed") || !strings.Contains(string(logA), "the shadow server may hold a copy, and is owed its discard") {
		t.Errorf("hub-a's log does not say hub-c may hold the copy")
	}
	body, err := scrapeMetrics(metricsA)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(body, `result="single"`) || !strings.Contains(body, `umbra_shadow_receipt_total{connector="org",result="left_may_hold"} 1`) {
		t.Errorf("receipt metric:\n%s", grepLines(body, "umbra_shadow_receipt_total"))
	}
}
