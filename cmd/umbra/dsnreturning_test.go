package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

// SR-6, SR-8, SR-11 (multi-process, kill -9 and restart with the same
// database): hub-a (127.0.0.160) keeps a message to x@ and y@ whose copy
// on receipt hub-b (127.0.0.161) keeps; the way out refuses x@ for good,
// defers y@, and defers the sender's DSNs. hub-a fails x@ and makes its
// failure DSN, which stays queued; hub-a is killed -9. hub-b takes the
// copy over, fails x@ again and makes its own failure DSN (the copy
// covered x@: hub-a's DSN was on hub-a's disk alone). hub-a comes back
// with its database: hub-b's taken-done notes say x@ failed there and
// was reported, so hub-a's queued DSN is dropped — the sender is told
// once (README "Partial discards": "a returning primary's DSN is dropped
// by the taken-done notes").
func TestReturningPrimaryQueuedDSNDroppedAfterTakeover(t *testing.T) {
	dir := t.TempDir()
	a, b, sinkAddr := "127.0.0.160:8500", "127.0.0.161:8501", "127.0.0.162:8502"
	sink := startDSNSink(t, sinkAddr)
	sink.senderDown.Store(true)
	topoPath := twoSiteTopology(t, dir, a, b, sinkAddr, "hub-a", "hub-b")
	cfgA, _ := orgHub(t, dir, "hub-a", a, topoPath, shadowOnReceipt("remote-only", false), "")
	cfgB, _ := orgHub(t, dir, "hub-b", b, topoPath, "0s", "")
	hb := startUmbra(t, cfgB, b)
	hb.dumpLogIfFailed()
	ha := startUmbra(t, cfgA, a)
	rs := rawDial(t, a)
	rs.cmd("EHLO client.example", "250")
	rs.cmd("MAIL FROM:<a@example.org>", "250")
	rs.cmd("RCPT TO:<x@remote.example>", "250")
	rs.cmd("RCPT TO:<y@remote.example>", "250")
	rs.cmd("DATA", "354")
	r := rs.cmd("Subject: once\r\n\r\nhello\r\n.", "")
	rs.cmd("QUIT", "221")
	if reply := r[len(r)-1]; !strings.HasPrefix(reply, "250") || !strings.Contains(reply, "shadow copy on hub-b") {
		ha.dumpLog()
		t.Fatalf("reply %q: want a 250 naming the shadow copy on hub-b", reply)
	}
	events := func(cfg, event string) string {
		out, _ := cli(t, cfg, "track", "--json", "--event", event)
		return out
	}
	waitCond(t, "hub-a to fail x@", 60*time.Second, func() bool { return sink.refusals() == 1 })
	// Killed as soon as the DSN is made: before its holders' pass
	// copies the DSN to hub-b (then hub-b would hold it, and the
	// original's copy would no longer cover x@).
	for end := time.Now().Add(60 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if b, _ := os.ReadFile(cfgA + ".log"); bytes.Contains(b, []byte("event=dsn")) {
			break
		}
		if time.Now().After(end) {
			t.Fatal("timed out: hub-a to make its failure DSN")
		}
	}
	ha.kill()
	if b, _ := os.ReadFile(cfgA + ".log"); bytes.Contains(b, []byte("(the DSN held on hub-b)")) {
		t.Skip("hub-a copied its DSN to hub-b before it was killed; this case needs the kill before that")
	}
	waitCond(t, "hub-b to take the copy over", 60*time.Second, func() bool {
		return strings.Contains(events(cfgB, "takeover"), `"event": "takeover"`)
	})
	waitCond(t, "hub-b to fail x@ again (the copy covered it)", 60*time.Second, func() bool { return sink.refusals() == 2 })
	waitCond(t, "hub-b to make its failure DSN", 30*time.Second, func() bool {
		return strings.Contains(events(cfgB, "dsn"), `"event": "dsn"`)
	})
	ha = startUmbra(t, cfgA, a)
	ha.dumpLogIfFailed()
	waitCond(t, "hub-b to tell hub-a what it finished of the copy", 60*time.Second, func() bool {
		b, _ := os.ReadFile(cfgB + ".log")
		return bytes.Contains(b, []byte("returning primary told what this server finished"))
	})
	// hub-a drops its queued DSN on those notes before the way out
	// opens (a fixed 3 s sleep could end before that on a loaded
	// machine, and hub-a would send its DSN: a second one). The event
	// is written after the commit that drops the DSN.
	waitCond(t, "hub-a to drop its failure DSN (a finished-elsewhere event)", 60*time.Second, func() bool {
		return strings.Contains(events(cfgA, "finished-elsewhere"), "failure DSN not sent: hub-b")
	})
	sink.senderDown.Store(false)
	sink.down.Store(false)
	p := &shadowPair{}
	waitCond(t, "y@ to be delivered", 60*time.Second, func() bool { return sink.count("y@remote.example") >= 1 })
	waitCond(t, "both queues to empty", 60*time.Second, func() bool {
		return len(p.queued(t, cfgA)) == 0 && len(p.queued(t, cfgB)) == 0
	})
	time.Sleep(3 * time.Second) // a second DSN on its way would land now
	if n := sink.dsns("failed"); n != 1 {
		t.Errorf("the sender got %d failure DSNs for x@, want 1", n)
	}
	if n := sink.count("y@remote.example"); n != 1 {
		t.Errorf("y@ got the message %d times, want once", n)
	}
}
