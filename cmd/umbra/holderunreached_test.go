package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

// SR-8, OPS-3 (rt30a F2): hub-a comes back with its database while
// hub-b, the holder of its message's copy on receipt, is down — hub-b
// may have taken the copy over and delivered it meanwhile (README,
// Duplicates after a takeover, window 1), and hub-a cannot ask it what
// it finished. Before, hub-a's shadow single listed none of such
// messages (or one, as a copy lost), and message show named hub-b as
// the copy's holder: nothing said they may go out twice. The start's
// log, shadow single and message show say so now. The test waits,
// bounded, for hub-a's log; it asserts no duration.
func TestSR8HolderNotReachableSinceStartShown(t *testing.T) {
	o := &receiptHubs{dir: t.TempDir(), a: freeAddr(t, "127.0.0.135"), b: freeAddr(t, "127.0.0.136"), sink: reserveAddr(t, "127.0.0.1")}
	topoPath := twoSiteTopology(t, o.dir, o.a, o.b, o.sink, "hub-a", "hub-b")
	o.cfgA, o.dataA = orgHub(t, o.dir, "hub-a", o.a, topoPath, shadowOnReceipt("remote-only", false), "")
	o.cfgB, o.dataB = orgHub(t, o.dir, "hub-b", o.b, topoPath, "0s", "")
	ha, hb := o.start(t) // no sink: hub-a keeps the message, hub-b its copy
	r := rawSend(t, o.a, "a@example.org", []string{"b@remote.example"}, "Subject: away\r\n\r\nbody")
	if !strings.HasPrefix(r, "250") || !strings.Contains(r, "shadow copy on hub-b") {
		t.Fatalf("reply %q: want a 250 naming the shadow copy on hub-b", r)
	}
	_, rest, _ := strings.Cut(r, "queued as ")
	id, _, _ := strings.Cut(rest, ",")
	id = strings.TrimSpace(id)
	hb.kill()
	ha.kill()
	ha = startUmbra(t, o.cfgA, o.a)
	ha.dumpLogIfFailed()
	waitCond(t, "hub-a's start to say hub-b is not reachable since it", 30*time.Second, func() bool {
		b, _ := os.ReadFile(ha.log)
		return strings.Contains(string(b), "shadow servers not reachable since the start")
	})
	single, _ := cli(t, o.cfgA, "shadow", "single")
	if !strings.Contains(single, "not reachable since this server's start") || !strings.Contains(single, "hub-b") {
		t.Fatalf("shadow single does not say hub-b, holding a copy, was not reachable since the start:\n%s", single)
	}
	t.Logf("shadow single:\n%s", single)
	show, _ := cli(t, o.cfgA, "message", "show", id)
	t.Logf("message show:\n%s", show)
	if !strings.Contains(show, "holder not reachable since the start: it may have taken this over") {
		t.Fatalf("message show %s does not say its holder may have taken it over:\n%s", id, show)
	}
}
