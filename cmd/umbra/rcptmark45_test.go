package main

import (
	"strings"
	"testing"

	"umbra/internal/testsupport"
)

// SR-6, OPS (rcptmark45 item 2): hub-c refuses the copy (452 4.3.1, a
// full disk) and the same receipt makes it on hub-b: the 250 says
// "shadow copy on hub-b", and the message was never held by hub-a only
// when the receipt ended. The tracking log said `single-copy` ("held by
// this server only since …: … hub-c …") all the same, with nothing after
// it to correct it — the event, its counter and `umbra track --event
// single-copy` told the operator of a message held on one disk that was
// not. The event is written only for a receipt that ends with the
// message held here only.
func TestSR6NoSingleCopyEventWhenNextCandidateTakesTheCopy(t *testing.T) {
	dir := t.TempDir()
	a, b, sink := "127.0.0.197:18520", "127.0.0.197:18521", "127.0.0.197:18522"
	full := testsupport.StartHub(t, "127.0.0.197:18523", testsupport.HubScript{DataReply: "452 4.3.1 Insufficient system storage, try again later"})
	topoPath := hubCInSiteBTopology(t, dir, a, b, full.Addr(), sink, "hub-a", "hub-b")
	cfgA, _ := orgHub(t, dir, "hub-a", a, topoPath, shadowOnReceipt("prefer-remote", false), "")
	cfgB, _ := orgHub(t, dir, "hub-b", b, topoPath, "0s", "")
	startUmbra(t, cfgB, b)
	ha := startUmbra(t, cfgA, a)                        // the sink is down: the messages wait at hub-a
	for i := 0; i < 2 && full.Copies.Load() == 0; i++ { // the rotation reaches hub-c within two
		reply := rawSend(t, a, "a@example.org", []string{"b@remote.example"}, "Subject: full\r\n\r\nhello")
		if !strings.HasPrefix(reply, "250") || !strings.Contains(reply, "shadow copy on hub-b") {
			ha.dumpLog()
			t.Fatalf("reply %q; want the copy on hub-b", reply)
		}
	}
	if full.Copies.Load() != 1 {
		t.Fatalf("hub-c was pushed %d copies, want 1", full.Copies.Load())
	}
	if out, _ := cli(t, cfgA, "shadow", "single"); strings.Contains(out, "hub-c") {
		t.Fatalf("shadow single lists a message:\n%s", out)
	}
	out, code := cli(t, cfgA, "track", "--json", "--event", "single-copy", "--since", "1h")
	if code != 0 {
		t.Fatalf("track: exit %d\n%s", code, out)
	}
	if strings.Contains(out, "single-copy") || strings.Contains(out, "held by this server only") {
		t.Fatalf("the tracking log has a single-copy event for a message whose copy the same receipt made on hub-b:\n%s", out)
	}
}
