package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

// loop49 F1: two hubs whose topologies disagree, connecting from no
// configured source address (so the hub a relay comes back from is not
// known by its address). hub-a relayed the message to hub-b, hub-b sent
// it back, and hub-a took the copy for one it had finished: the
// recipient was dropped as duplicate-suppressed at receipt and the
// message was never delivered. A recipient this server relayed on to
// another server of the organisation is not finished here: the copy that
// comes back is taken in and waits, deferred 451 4.4.6.
func TestDaemonLoopReturnNotSuppressedAsFinished(t *testing.T) {
	dir := t.TempDir()
	a, b := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.2")
	sinkAddr := reserveAddr(t, "127.0.0.1")
	topo := disagreeingTopology(t, dir, a, b, sinkAddr)
	metA, metB := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.2")
	noSource := func(path string) string {
		s := string(mustRead(t, path))
		i := strings.Index(s, ", source_address:")
		j := strings.Index(s[i:], "}")
		if err := os.WriteFile(path, []byte(s[:i]+s[i+j:]), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	cfgA := noSource(loopHub(t, dir, "hub-a", a, metA, "127.0.0.1", topo("hub-b")))
	cfgB := noSource(loopHub(t, dir, "hub-b", b, metB, "127.0.0.2", topo("hub-a")))
	sink := startRefusingSink(t, sinkAddr)
	hubA := startUmbra(t, cfgA, a)
	hubB := startUmbra(t, cfgB, b)

	if r := rawSend(t, a, "sender@example.org", []string{"user@far.test"}, "Subject: f1\r\n\r\nhello"); !strings.HasPrefix(r, "250") {
		t.Fatalf("DATA: %s", r)
	}
	// The message went round: it comes back to a hub that relayed it.
	deadline := time.Now().Add(30 * time.Second)
	for {
		la, _ := os.ReadFile(hubA.log)
		lb, _ := os.ReadFile(hubB.log)
		if strings.Contains(string(la)+string(lb), "4.4.6") || strings.Contains(string(la)+string(lb), "duplicate-suppressed") {
			break
		}
		if time.Now().After(deadline) {
			hubA.dumpLog()
			hubB.dumpLog()
			t.Fatalf("the message never came back to a hub")
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, d := range []*daemon{hubA, hubB} {
		if l, _ := os.ReadFile(d.log); strings.Contains(string(l), "event=duplicate-suppressed") {
			d.dumpLog()
			t.Errorf("%s took the returning copy for one it finished", d.cfg)
		}
	}
	// The message is not finished undelivered: it waits on a hub, deferred
	// 451 4.4.6, while the topologies are made to agree.
	deadline = time.Now().Add(30 * time.Second)
	for {
		outA, _ := cli(t, cfgA, "message", "list", "--state", "retry")
		outB, _ := cli(t, cfgB, "message", "list", "--state", "retry")
		if strings.Contains(outA+outB, "user@far.test") && strings.Contains(outA+outB, "4.4.6") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the message waits on no hub with a 4.4.6 deferral:\nhub-a:\n%s\nhub-b:\n%s", outA, outB)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := len(sink.to("user@far.test")); n != 0 {
		t.Errorf("the sink got %d messages while the topologies disagree", n)
	}
}
