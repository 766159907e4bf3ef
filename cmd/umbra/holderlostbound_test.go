package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"umbra/internal/admin"
)

// SR-6 from the primary's side: the shadow server holding a message's
// copy (hub-b) is killed -9 and stays down. After the takeover bound
// (heartbeat timeout 1 s × 3 retries) hub-a no longer says the copy is
// on hub-b: message show and shadow single say the message is held by
// hub-a only, hub-b unreachable since when, and the log says so. (Before,
// hub-a said "copy: on hub-b" and "no message lost its shadow copy" for
// as long as hub-b stayed away: a loss of hub-a's disk then lost
// acknowledged mail while the operator was told it was safe.) hub-b then
// comes back with its copy: hub-a's mark goes, and the message reaches
// the outside once.
func TestSR6HolderDownForTheTakeoverBoundIsShownLost(t *testing.T) {
	t.Parallel()
	o := &receiptHubs{dir: t.TempDir(), a: freeAddr(t, "127.0.0.125"), b: freeAddr(t, "127.0.0.125"), sink: reserveAddr(t, "127.0.0.125")}
	topoPath := twoSiteTopology(t, o.dir, o.a, o.b, o.sink, "hub-a", "hub-b")
	o.cfgA, o.dataA = orgHub(t, o.dir, "hub-a", o.a, topoPath, shadowOnReceipt("prefer-remote", false), "")
	o.cfgB, o.dataB = orgHub(t, o.dir, "hub-b", o.b, topoPath, "0s", "")
	ha, hb := o.start(t)
	if _, code := cli(t, o.cfgA, "queue", "suspend", "smarthost:out"); code != 0 {
		t.Fatal("suspend smarthost:out on hub-a")
	}
	o.sendCopied(t, "Subject: away\r\n\r\nhello\r\n")
	p := &shadowPair{}
	waitCond(t, "hub-b to hold the copy for hub-a", 30*time.Second, func() bool { s, _ := p.held(t, o.cfgB, "hub-a"); return s == 1 })
	var ms []admin.MessageView
	if out, _ := cli(t, o.cfgA, "message", "list", "--json"); json.Unmarshal([]byte(out), &ms) != nil || len(ms) != 1 {
		t.Fatalf("hub-a's messages: %s", out)
	}
	id := ms[0].ID

	hb.kill()
	killed := time.Now()
	waitCond(t, "hub-a to show the message held by it only", 30*time.Second, func() bool {
		out, _ := cli(t, o.cfgA, "message", "show", id)
		return strings.Contains(out, "held by this server only") && strings.Contains(out, "hub-b has not answered a probe nor opened a session here since")
	})
	if d := time.Since(killed); d < 3*time.Second {
		t.Errorf("copy taken as lost %s after the holder went, before the takeover bound (3 s)", d)
	}
	if out, _ := cli(t, o.cfgA, "shadow", "single"); !strings.Contains(out, id) || strings.Contains(out, "none: no message lost") {
		t.Errorf("shadow single does not list the message:\n%s", out)
	}
	// hub-a logs it after the commit of the marks message show read.
	waitLogCount(t, ha, "shadow server not reachable for the takeover bound", 1)
	// rr notopo38: hub-b's discard query long-polled at hub-a when it
	// was killed (WAIT=, up to 5 s) is no session of a live hub-b when
	// its wait ends: the marks stay until hub-b really comes back.
	time.Sleep(time.Until(killed.Add(8 * time.Second)))
	if log, _ := os.ReadFile(ha.log); strings.Contains(string(log), "shadow server answers again with its copies") {
		t.Fatal("hub-a took the killed hub-b for up again (its long-polled query's wait ended) and gave its copies back")
	}

	// hub-b comes back with its copy: the mark goes, and the message
	// reaches the outside once.
	startUmbra(t, o.cfgB, o.b)
	waitCond(t, "hub-a's mark to go once hub-b answers", 30*time.Second, func() bool {
		out, _ := cli(t, o.cfgA, "message", "show", id)
		return !strings.Contains(out, "held by this server only")
	})
	sink := startRecorder(t, o.sink)
	if _, code := cli(t, o.cfgA, "queue", "resume", "smarthost:out"); code != 0 {
		t.Fatal("resume smarthost:out on hub-a")
	}
	waitArrived(t, sink, []string{"away"}, ha)
	time.Sleep(3 * time.Second) // a second delivery on its way would land now
	if n := sink.counts()["away"]; n != 1 {
		t.Fatalf("the message reached the outside %d times, want once", n)
	}
}
