package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

// shadowdup34 (SR-6, SR-8, SR-11): hub-a holds a message whose copy on
// receipt hub-b keeps; its way out (the sink) is down, and hub-a is
// killed -9. hub-b takes the copy over after its failed heartbeats; the
// sink comes back but answers the final dot only after a long wait, so
// hub-b's attempt of the taken-over copy is in delivery (the sink has
// the message) when hub-a returns with its database. hub-a's start asks
// hub-b (XQUERYTAKENDONE, shadow verbs 17: BUSY): the copy is in
// delivery there, so hub-a keeps its original deferred — not delivered,
// no retry step used — until a later answer says the copy is done
// (finished elsewhere) or not. The sink gets the message once.
func TestReturningPrimaryWaitsForCopyInDeliveryOnHolder(t *testing.T) {
	t.Parallel()
	const ip = "127.0.0.135"
	dir := t.TempDir()
	o := &receiptHubs{dir: dir, a: ip + ":8501", b: ip + ":8502", sink: ip + ":8503"}
	topoPath := twoSiteTopology(t, o.dir, o.a, o.b, o.sink, "hub-a", "hub-b")
	o.cfgA, o.dataA = orgHub(t, o.dir, "hub-a", o.a, topoPath, shadowOnReceipt("remote-only", false), "")
	o.cfgB, o.dataB = orgHub(t, o.dir, "hub-b", o.b, topoPath, "0s", "")
	ha, hb := o.start(t)
	if reply := rawSend(t, o.a, "a@example.org", []string{"x@remote.example"}, "Subject: once busy\r\n\r\nhello\r\n"); !strings.HasPrefix(reply, "250") ||
		!strings.Contains(reply, "shadow copy on hub-b") {
		t.Fatalf("reply %q: want a 250 naming the shadow copy on hub-b", reply)
	}
	p := &shadowPair{}
	waitCond(t, "hub-b to hold the copy for hub-a", 30*time.Second, func() bool { s, _ := p.held(t, o.cfgB, "hub-a"); return s == 1 })
	ha.kill()
	waitCond(t, "hub-b to take the copy over", 60*time.Second, func() bool {
		out, _ := cli(t, o.cfgB, "track", "--json", "--event", "takeover")
		return strings.Contains(out, `"event": "takeover"`)
	})
	sink, reached := startSlowReplySink(t, o.sink, 10*time.Second)
	select {
	case <-reached: // hub-b's attempt of the copy waits for the final dot's reply
	case <-time.After(60 * time.Second):
		t.Fatal("hub-b never delivered the taken-over copy to the sink")
	}
	ha = startUmbra(t, o.cfgA, o.a)
	ha.dumpLogIfFailed()
	cli(t, o.cfgA, "queue", "flush")
	waitCond(t, "hub-a to show its original kept back", 8*time.Second, func() bool {
		out, _ := cli(t, o.cfgA, "message", "list", "--json")
		return strings.Contains(out, "kept back: its shadow copy is in delivery on hub-b")
	})
	waitCond(t, "both queues to empty", 60*time.Second, func() bool {
		n := 0
		for _, c := range p.queued(t, o.cfgA) {
			n += c
		}
		for _, c := range p.queued(t, o.cfgB) {
			n += c
		}
		return n == 0
	})
	time.Sleep(2 * time.Second) // a second copy on its way would land now
	if n := sink.counts()["once busy"]; n != 1 {
		t.Fatalf("the sink got the message %d times, want once", n)
	}
	if out, _ := cli(t, o.cfgA, "track", "--json", "--event", "finished-elsewhere"); !strings.Contains(out, `"event": "finished-elsewhere"`) {
		t.Errorf("hub-a's tracking log has no finished-elsewhere event: %s", out)
	}
	if b, _ := os.ReadFile(ha.log); !bytes.Contains(b, []byte("copy in delivery on the shadow server that took it over")) {
		t.Error("hub-a's log does not say it waits for hub-b's attempt")
	}
	if b, _ := os.ReadFile(hb.log); !bytes.Contains(b, []byte("returning primary told a copy it took over is in delivery here")) {
		t.Error("hub-b's log does not say it told hub-a the copy is in delivery")
	}
}
