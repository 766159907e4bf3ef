package main

import (
	"strings"
	"testing"
	"time"
)

// owed44IP is the loopback address of the owed44 daemons (ports
// 6000-6999: addrInRange).
const owed44IP = "127.0.0.185"

// SR-17, SR-3 (rt44 shadowrcpt3 F1): hub-b keeps hub-a's copy on
// receipt and its replies never come back (the proxy in front of hub-b
// swallows them; the connection stays open). hub-a's push runs out of
// its bound, the copy is made on hub-c, and hub-b — which may hold a
// copy — is owed its discard; the hand-over before the 250 passes it
// over (its push just hung). hub-b's watch session to hub-a (direct,
// not through the proxy) is open with its long poll waiting: the
// discard is answered on it at once, as the commit naming hub-c lands.
// hub-a killed -9 for good right after the 250 leaves one holder, and
// the sink gets the message once. The discard reached hub-b only at a
// later poll, and both hub-b and hub-c took the message over and
// delivered it (3 of 3 runs).
func TestSR17OwedDiscardReachesTheWatchingServerBeforeTheKill(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	var in []string
	for try := 0; len(in) < 6 && try < 600; try++ {
		if a := addrInRange(t, owed44IP, 6000, 1000); !seen[a] {
			seen[a] = true
			in = append(in, a)
		}
	}
	if len(in) < 6 {
		t.Fatalf("%d distinct free addresses on %s, want 6", len(in), owed44IP)
	}
	o := hungPeerOrgAt(t, in[0], in[1], in[2], in[3], in[4], in[5])
	p := &shadowPair{}
	// A first copy on hub-b: hub-b watches hub-a from then on.
	if reply := rawSend(t, o.a, "a@example.org", []string{"x@remote.example"}, "Subject: first44\r\n\r\nhello"); !strings.Contains(reply, "shadow copy on hub-b") {
		t.Fatalf("first reply %q: want a copy on hub-b", reply)
	}
	waitCond(t, "hub-b to hold the first copy", 30*time.Second, func() bool { s, _ := p.held(t, o.cfgB, "hub-a"); return s == 1 })
	o.proxy.swallow.Store(true)
	reply := rawSend(t, o.a, "a@example.org", []string{"x@remote.example"}, "Subject: owed44\r\n\r\nhello")
	o.ha.kill()
	if !strings.HasPrefix(reply, "250") || !strings.Contains(reply, "shadow copy on hub-c") {
		t.Fatalf("reply %q with hub-b's replies swallowed: want the copy on hub-c", reply)
	}
	if !strings.Contains(o.proxy.answers(), "Shadow copy kept as") {
		t.Fatalf("hub-b did not keep the copy (answers %q): the test proves nothing", o.proxy.answers())
	}
	sink := startRecorder(t, o.sink)
	waitArrived(t, sink, []string{"first44", "owed44"}, o.hc)
	time.Sleep(3 * time.Second) // a second copy on its way would land now
	if k := sink.counts()["owed44"]; k != 1 {
		t.Errorf("the message arrived %d times, want once", k)
	}
	if k := sink.counts()["first44"]; k != 1 {
		t.Errorf("the first message arrived %d times, want once", k)
	}
}
