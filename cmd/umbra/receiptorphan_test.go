package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

// receipt42IP is the loopback address of the receipt42 daemons (ports
// 8000-8999: addrInRange).
const receipt42IP = "127.0.0.131"

// SR-17, SR-3 (receipt42 item 1): hub-b keeps hub-a's copy on receipt —
// its commit is done — and its reply is cut before it reaches hub-a,
// on the second session too (the proxy in front of hub-b). hub-a makes
// the copy on hub-c within the receipt; hub-b may hold one too. Before
// the sender's 250, hub-a hands hub-b the discard of that copy: killed
// -9 at once after the 250, for good, hub-a leaves one copy only —
// hub-c's — and the sink gets the message exactly once. The discard had
// been left for hub-b to fetch at its next contact, and a primary lost
// before it left two holders that both took the message over.
func TestSR17OrphanCopyDiscardedBeforeThe250(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	var in []string
	for try := 0; len(in) < 6 && try < 600; try++ {
		if a := addrInRange(t, receipt42IP, 8000, 1000); !seen[a] {
			seen[a] = true
			in = append(in, a)
		}
	}
	if len(in) < 6 {
		t.Fatalf("%d distinct free addresses on %s, want 6", len(in), receipt42IP)
	}
	o := hungPeerOrgAt(t, in[0], in[1], in[2], in[3], in[4], in[5])
	p := &shadowPair{}
	o.proxy.cut.Store(true)
	reply := rawSend(t, o.a, "a@example.org", []string{"x@remote.example"}, "Subject: orphan42\r\n\r\nhello")
	o.ha.kill()
	if !strings.HasPrefix(reply, "250") || !strings.Contains(reply, "shadow copy on hub-c") {
		t.Fatalf("reply %q with hub-b's reply cut after its commit: want the copy on hub-c", reply)
	}
	if !strings.Contains(o.proxy.answers(), "Shadow copy kept as") {
		t.Fatalf("hub-b did not keep the copy before its session was cut (answers %q): the test proves nothing", o.proxy.answers())
	}
	// The promise is the hand-over before the 250 when hub-b answers
	// within 2 s (README, shadow redundancy); hub-a logs one it gave
	// up on before its 250, and hub-b then fetches the discard at its
	// next contact — which a primary killed for good never has: that is
	// the documented case of "What can still go twice", not this test's.
	// So is one passed over because hub-b's push had just hung (its
	// 10 s bound ran out on a loaded machine). A hand-over that failed
	// any other way (refused, a broken session) is a defect all the same.
	if line := handOverGivenUp(t, o.ha); line != "" {
		if !strings.Contains(line, "deadline exceeded") && !strings.Contains(line, "i/o timeout") && !strings.Contains(line, "hung lately") {
			t.Fatalf("hub-a did not hand hub-b the discard for another reason than its 2 s: %s", line)
		}
		t.Skipf("hub-a's hand-over of hub-b's discard ran out of its 2 s (a loaded machine): the documented fallback, the once-only delivery is not promised then: %s", line)
	}
	if s, k := p.held(t, o.cfgB, "hub-a"); s != 0 || k != 0 {
		t.Errorf("hub-b holds %d copies for hub-a (%d taken over) once hub-a answered; want none", s, k)
	}
	sink := startRecorder(t, o.sink)
	waitArrived(t, sink, []string{"orphan42"}, o.hc)
	time.Sleep(3 * time.Second) // a second copy on its way would land now
	if k := sink.counts()["orphan42"]; k != 1 {
		t.Errorf("the message arrived %d times, want once", k)
	}
}

// SR-17, SR-3 (receipt42 item 1, every candidate failing): hub-b keeps
// hub-a's copy on receipt and its reply is cut (it may hold the copy),
// and hub-c, the next candidate, is down: the sender's 250 says the
// copy is unconfirmed, one may exist on hub-b (rcpt47 item 1). hub-b is kept as one that may hold the copy: once hub-a
// delivers the message, hub-b gets the copy's discard and holds nothing
// for hub-a within a few heartbeats; the message arrives once.
func TestSR17MayHoldCopyDiscardedAfterDeliveryWhenNoCandidateConfirmed(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	var in []string
	for try := 0; len(in) < 6 && try < 600; try++ {
		if a := addrInRange(t, receipt42IP, 8000, 1000); !seen[a] {
			seen[a] = true
			in = append(in, a)
		}
	}
	if len(in) < 6 {
		t.Fatalf("%d distinct free addresses on %s, want 6", len(in), receipt42IP)
	}
	o := hungPeerOrgAt(t, in[0], in[1], in[2], in[3], in[4], in[5])
	p := &shadowPair{}
	o.hc.kill()
	o.proxy.cut.Store(true)
	reply := rawSend(t, o.a, "a@example.org", []string{"x@remote.example"}, "Subject: allfail42\r\n\r\nhello")
	if !strings.HasPrefix(reply, "250") || !strings.Contains(reply, "shadow copy unconfirmed: one may exist on hub-b") {
		t.Fatalf("reply %q with hub-b's reply cut and hub-c down: want the copy said unconfirmed, one that may exist on hub-b", reply)
	}
	if !strings.Contains(o.proxy.answers(), "Shadow copy kept as") {
		t.Fatalf("hub-b did not keep the copy before its session was cut (answers %q): the test proves nothing", o.proxy.answers())
	}
	if s, _ := p.held(t, o.cfgB, "hub-a"); s != 1 {
		t.Fatalf("hub-b holds %d copies for hub-a before the delivery; want the one it kept", s)
	}
	sink := startRecorder(t, o.sink)
	if out, code := cli(t, o.cfgA, "queue", "flush"); code != 0 {
		t.Fatalf("queue flush: %d %s", code, out)
	}
	waitArrived(t, sink, []string{"allfail42"}, o.ha)
	waitCond(t, "hub-b to drop the copy of the delivered message", 30*time.Second, func() bool { s, k := p.held(t, o.cfgB, "hub-a"); return s == 0 && k == 0 })
	time.Sleep(3 * time.Second) // a few heartbeats: still none, and no second delivery
	if s, k := p.held(t, o.cfgB, "hub-a"); s != 0 || k != 0 {
		t.Errorf("hub-b holds %d copies for hub-a (%d taken over) after the delivery; want none", s, k)
	}
	if k := sink.counts()["allfail42"]; k != 1 {
		t.Errorf("the message arrived %d times, want once", k)
	}
}

// handOverGivenUp is the line of d's log that says a discard owed to a
// server that may hold a copy on receipt was not handed at once —
// before the sender's reply, or after a made-again pass made the copy
// elsewhere (delivery handMayHoldDiscards) —, "" when there is none.
func handOverGivenUp(t *testing.T, d *daemon) string {
	t.Helper()
	b, err := os.ReadFile(d.log)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "discard of an unconfirmed shadow copy not handed") {
			return l
		}
	}
	return ""
}
