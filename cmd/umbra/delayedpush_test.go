package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

// rt19f F1 across processes (SR-3, SR-17): hub-a pushes the copy on
// receipt of a message to hub-b, which hangs with the push in its
// socket (the proxy holds it: a stopped process); past the push's bound
// the copy is made on hub-c within the receipt, and hub-b, which may
// store the push once it runs again, is owed the copy's discard. hub-b
// fetches it, then resumes reading and stores — or not — the push it
// buffered. Within a few heartbeats hub-b holds no copy of that message;
// after hub-a's loss, hub-b and hub-c take over what they hold, and the
// sink gets each message exactly once.
func TestDelayedPushToHungHolderGetsItsDiscard(t *testing.T) {
	t.Parallel()
	o := hungPeerOrg(t)
	p := &shadowPair{}
	if reply := rawSend(t, o.a, "a@example.org", []string{"x@remote.example"}, "Subject: first\r\n\r\nhello"); !strings.Contains(reply, "shadow copy on hub-b") {
		t.Fatalf("first reply %q: want a copy on hub-b (its session is kept for the next copy)", reply)
	}
	o.proxy.hold = true
	o.proxy.hang.Store(true)
	start := time.Now()
	reply := rawSend(t, o.a, "a@example.org", []string{"x@remote.example"}, "Subject: second\r\n\r\nhello")
	t.Logf("second reply after %v: %q", time.Since(start).Round(100*time.Millisecond), reply)
	if !strings.HasPrefix(reply, "250") || !strings.Contains(reply, "shadow copy on hub-c") {
		t.Fatalf("reply %q with hub-b hung: want the copy on hub-c", reply)
	}
	// hub-b, which reaches hub-a directly, fetches the discard of the
	// push it has not read yet.
	waitCond(t, "hub-a to hand hub-b the discard of the unconfirmed push", 30*time.Second, func() bool {
		return metricValue(t, o.metricsA, "umbra_shadow_discard_ids_handed_total") >= 1
	})
	waitCond(t, "hub-b to commit the discard (its next command acknowledges it)", 30*time.Second, func() bool {
		return metricValue(t, o.metricsA, "umbra_shadow_discards_sent_total") >= 1
	})
	o.proxy.release()
	// hub-b answers the push it read late (the one hub-a gave up on).
	waitCond(t, "hub-b to answer the delayed push", 30*time.Second, func() bool {
		return strings.Count(o.proxy.answers(), "Shadow copy") >= 2
	})
	late := "stored, then discarded"
	if strings.Contains(o.proxy.answers(), "Shadow copy already discarded") {
		late = "not stored: its discard came first"
	}
	t.Logf("the delayed push at hub-b: %s", late)
	waitCond(t, "hub-b to hold the first message's copy alone", 30*time.Second, func() bool {
		s, k := p.held(t, o.cfgB, "hub-a")
		return s == 1 && k == 0
	})
	time.Sleep(3 * time.Second) // a few heartbeats: still one
	if s, k := p.held(t, o.cfgB, "hub-a"); s != 1 || k != 0 {
		t.Fatalf("hub-b holds %d copies for hub-a (%d taken over); want the first message's alone", s, k)
	}
	if s, _ := p.held(t, o.cfgC, "hub-a"); s != 1 {
		t.Fatalf("hub-c holds %d copies for hub-a; want the second message's", s)
	}
	// hub-a is lost: its copies are taken over and delivered.
	o.ha.kill()
	sink := startRecorder(t, o.sink)
	waitArrived(t, sink, []string{"first", "second"}, o.hc)
	time.Sleep(3 * time.Second) // a second copy on its way would land now
	for s, k := range sink.counts() {
		if k != 1 {
			t.Errorf("%s arrived %d times", s, k)
		}
	}
}

// The loss an early discard could cause (SR-3, SR-17): as above, hub-b
// fetches the discard of the push it has not read, but that push never
// reaches its disk (the session broke). The discard stays kept at hub-b
// for a copy that will not come. hub-c, which holds the message's copy,
// loses its database; hub-a makes the copy again on hub-b, under the
// same org id. hub-b must keep it: answered 250 and not kept, hub-a
// would name hub-b for a copy that does not exist, and hub-a's loss would
// lose the message.
func TestCopyPushedAfterStaleEarlyDiscardIsKept(t *testing.T) {
	t.Parallel()
	o := hungPeerOrg(t)
	p := &shadowPair{}
	if reply := rawSend(t, o.a, "a@example.org", []string{"x@remote.example"}, "Subject: first\r\n\r\nhello"); !strings.Contains(reply, "shadow copy on hub-b") {
		t.Fatalf("first reply %q: want a copy on hub-b (its session is kept for the next copy)", reply)
	}
	o.proxy.hold = true
	o.proxy.hang.Store(true)
	if reply := rawSend(t, o.a, "a@example.org", []string{"x@remote.example"}, "Subject: second\r\n\r\nhello"); !strings.Contains(reply, "shadow copy on hub-c") {
		t.Fatalf("reply %q with hub-b hung: want the copy on hub-c", reply)
	}
	hung := time.Now() // hub-b's push ran out of its bound: passed over for copies, probed once a minute (rcptmark45)
	waitCond(t, "hub-a to hand hub-b the discard of the unconfirmed push", 30*time.Second, func() bool {
		return metricValue(t, o.metricsA, "umbra_shadow_discard_ids_handed_total") >= 1
	})
	waitCond(t, "hub-b to commit the discard (its next command acknowledges it)", 30*time.Second, func() bool {
		return metricValue(t, o.metricsA, "umbra_shadow_discards_sent_total") >= 1
	})
	probes := o.proxy.quits()
	o.proxy.drop() // the push never reaches hub-b
	// hub-a hears hub-b again: a probe through the proxy ran to its end
	// (a probe opened during the hang waits out its own 10 s first).
	waitCond(t, "a probe of hub-a's to reach hub-b again", 60*time.Second, func() bool {
		return o.proxy.quits() > probes
	})
	if out, code := cli(t, o.cfgA, "shadow", "single"); code != 0 || !strings.HasPrefix(strings.TrimSpace(out), "none:") {
		t.Fatalf("hub-a holds messages alone before hub-c's loss (exit %d):\n%s\nwant none: hub-b answers, and holds the first message's copy", code, out)
	}
	// A server whose push hung is passed over for copies, though its
	// sessions answer, until a copy pushed there once a minute (in its
	// normal place) is kept: the copy made again after hub-c's loss
	// is that probe once the minute since the hang is over.
	if d := time.Until(hung.Add(65 * time.Second)); d > 0 {
		time.Sleep(d)
	}
	// hub-c loses its database.
	o.hc.kill()
	os.RemoveAll(o.dataC)
	o.hc = startUmbra(t, o.cfgC, o.c)
	waitLogCount(t, o.ha, "shadow server returned with a new transport database", 1)
	waitCond(t, "hub-a to make the second message's copy again", 60*time.Second, func() bool {
		out, code := cli(t, o.cfgA, "shadow", "single")
		return code == 0 && strings.HasPrefix(strings.TrimSpace(out), "none:")
	})
	if s, _ := p.held(t, o.cfgC, "hub-a"); s != 0 {
		t.Fatalf("hub-c holds %d copies for hub-a; want the copy made again on hub-b (prefer-remote)", s)
	}
	waitCond(t, "hub-b to hold both messages' copies (hub-a names hub-b for the second: without that copy, hub-a's loss loses it)", 10*time.Second, func() bool {
		s, _ := p.held(t, o.cfgB, "hub-a")
		return s == 2
	})
	o.ha.kill()
	sink := startRecorder(t, o.sink)
	waitArrived(t, sink, []string{"first", "second"}, o.hb)
	time.Sleep(3 * time.Second) // a second copy on its way would land now
	for s, k := range sink.counts() {
		if k != 1 {
			t.Errorf("%s arrived %d times", s, k)
		}
	}
}
