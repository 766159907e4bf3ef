package main

import (
	"os"
	"strings"
	"testing"
)

// receiptOrg is hub-a (site a) and hub-b (site b); both may send to the
// sink through connector "out". hub-a's connector makes shadow copies on
// receipt with the given preference (and keeps delayed acknowledgement
// configured, 30 s, to show that it does not apply).
func receiptOrg(t *testing.T, pref string) (a, b, sink, cfgA, dataA, cfgB string) {
	return receiptOrgReject(t, pref, true)
}

func receiptOrgReject(t *testing.T, pref string, reject bool) (a, b, sink, cfgA, dataA, cfgB string) {
	o := newReceiptHubs(t, pref, reject)
	return o.a, o.b, o.sink, o.cfgA, o.dataA, o.cfgB
}

// SR-17: with its next hop down, hub-a answers each sender at once (no
// delayed acknowledgement: the 250 names the shadow copy on hub-b, the
// server of the other site), and then dies for good (kill -9, database
// gone). hub-b, which kept the copies without delivering them, takes
// them over after its heartbeats to hub-a failed and delivers every
// acknowledged message once the next hop is up.
func TestShadowOnReceiptSurvivesReceiverLoss(t *testing.T) {
	t.Parallel()
	a, b, sinkAddr, cfgA, dataA, cfgB := receiptOrg(t, "prefer-remote")
	hb := startUmbra(t, cfgB, b)
	ha := startUmbra(t, cfgA, a)
	reply := rawSend(t, a, "a@example.org", []string{"b@remote.example"}, "Subject: sor-first\r\n\r\nhello")
	if !strings.HasPrefix(reply, "250") || !strings.Contains(reply, "shadow copy on hub-b") {
		ha.dumpLog()
		t.Fatalf("reply %q: want a 250 naming the shadow copy on hub-b", reply)
	}
	acked := sendAll(t, ha, a, "sor", 6, 3)
	p := &shadowPair{}
	waitCond(t, "hub-b to hold the copies for hub-a", 30e9, func() bool { s, _ := p.held(t, cfgB, "hub-a"); return s == 7 })
	if q := p.queued(t, cfgA); q["shadow:hub-b"] != 0 {
		t.Fatalf("hub-a lists copies it does not hold: %v", q)
	}
	ha.kill()
	os.RemoveAll(dataA)
	sink := startRecorder(t, sinkAddr)
	waitArrived(t, sink, append(acked, "sor-first"), hb)
	if out, _ := cli(t, cfgB, "track", "--json", "--sender", "a@example.org"); !strings.Contains(out, `"event": "takeover"`) {
		t.Errorf("no takeover in hub-b's tracking log")
	}
}

// SR-17, remote-only without a server of another site that answers:
// reject_on_shadow_failure makes it 451 4.4.0, and nothing is queued.
func TestShadowOnReceiptRejectsWithoutShadowServer(t *testing.T) {
	a, _, _, cfgA, _, _ := receiptOrg(t, "remote-only")
	ha := startUmbra(t, cfgA, a) // hub-b is not running
	reply := rawSend(t, a, "a@example.org", []string{"b@remote.example"}, "Subject: nobody\r\n\r\nhello")
	if !strings.HasPrefix(reply, "451 4.4.0") {
		ha.dumpLog()
		t.Fatalf("reply %q: want 451 4.4.0", reply)
	}
	if q := (&shadowPair{}).queued(t, cfgA); len(q) != 0 {
		t.Fatalf("queued after a 451: %v", q)
	}
}

// SR-17 and SR-4: once hub-a delivered the messages it copied to hub-b on
// receipt, hub-b's heartbeats bring the discard notifications (named by
// the org id) and its copies go; nothing is delivered twice.
//
// Both daemons' /metrics stay whole meanwhile: a primary's heartbeats and
// its watch sessions show under one queue (shadow:hub-a), which once made
// the scheduler's window gauge a duplicate series and every scrape fail.
func TestShadowOnReceiptDiscardedAfterDelivery(t *testing.T) {
	a, b, sinkAddr, cfgA, _, cfgB := receiptOrg(t, "prefer-remote")
	metricsA, metricsB := withMetrics(t, cfgA), withMetrics(t, cfgB)
	sink := startRecorder(t, sinkAddr)
	startUmbra(t, cfgB, b)
	ha := startUmbra(t, cfgA, a)
	acked := sendMany(a, "sord", 5, 2, nil)
	waitArrived(t, sink, acked, ha)
	p := &shadowPair{}
	waitCond(t, "hub-b to drop its copies", 30e9, func() bool {
		metricValue(t, metricsA, "umbra_scheduler_attempts_running")
		metricValue(t, metricsB, "umbra_scheduler_attempts_running")
		return len(p.queued(t, cfgB)) == 0
	})
	for s, n := range sink.counts() {
		if n != 1 {
			t.Errorf("%s arrived %d times", s, n)
		}
	}
}

// SR-17 across versions: a shadow server of the previous release speaks
// the shadow verbs below version 3 and keeps no copies on receipt; the
// new hub-a does not push one to it, accepts the message held by itself
// only (reject_on_shadow_failure off), and still relays to it as before.
func TestShadowOnReceiptPreviousReleasePeer(t *testing.T) {
	bin := buildPreviousRelease(t)
	a, b, _, cfgA, _, cfgB := receiptOrgReject(t, "remote-only", false)
	previousTopology(t, cfgB)
	withBinary(bin, func() { startUmbra(t, cfgB, b) })
	ha := startUmbra(t, cfgA, a)
	reply := rawSend(t, a, "a@example.org", []string{"b@remote.example"}, "Subject: old-peer\r\n\r\nhello")
	if !strings.HasPrefix(reply, "250") || !strings.Contains(reply, "no shadow copy") {
		ha.dumpLog()
		t.Fatalf("reply %q: want 250 held by hub-a only", reply)
	}
	log, _ := os.ReadFile(ha.log)
	if !strings.Contains(string(log), "message held by this server only") {
		ha.dumpLog()
		t.Fatal("the single copy is not logged")
	}
}

// chaosReceipt is the receive connectors' shadow_on_receipt line in the
// chaos soak: UMBRA_CHAOS_RECEIPT (make chaos-receipt: prefer-remote)
// makes every server copy what it receives onto another before its 250
// (SR-17), so the soak's kill -9 of the server that just answered a
// sender, for good or not, is covered by the copy instead of by delayed
// acknowledgement.
func chaosReceipt() string {
	if v := os.Getenv("UMBRA_CHAOS_RECEIPT"); v != "" {
		return "    shadow_on_receipt: " + v + "\n"
	}
	return ""
}

// rt27 F2: a message accepted "no shadow copy" because no shadow server
// answered at receipt is held by this server only like one whose push
// broke after the commit: shadow single lists it, message show says so,
// and its copy is made once a shadow server answers (hub-b, started
// later, then holds it).
func TestNoShadowCopyAtReceiptIsTrackedAndCopiedLater(t *testing.T) {
	a, b, _, cfgA, _, cfgB := receiptOrgReject(t, "prefer-remote", false)
	ha := startUmbra(t, cfgA, a) // hub-b is not running; the sink neither: the message waits
	reply := rawSend(t, a, "a@example.org", []string{"b@remote.example"}, "Subject: lonely\r\n\r\nhello")
	_, rest, ok := strings.Cut(reply, "queued as ")
	if !strings.HasPrefix(reply, "250") || !strings.Contains(reply, "no shadow copy") || !ok {
		ha.dumpLog()
		t.Fatalf("reply %q: want 250 held by hub-a only", reply)
	}
	id, _, _ := strings.Cut(rest, ",")
	if out, _ := cli(t, cfgA, "shadow", "single"); !strings.Contains(out, id) {
		ha.dumpLog()
		t.Fatalf("shadow single does not list %s:\n%s", id, out)
	}
	if out, _ := cli(t, cfgA, "message", "show", id); !strings.Contains(out, "held by this server only") {
		t.Fatalf("message show %s says nothing of its single copy:\n%s", id, out)
	}
	startUmbra(t, cfgB, b)
	p := &shadowPair{}
	waitCond(t, "hub-b to hold the copy made again", 30e9, func() bool { s, _ := p.held(t, cfgB, "hub-a"); return s == 1 })
	waitCond(t, "the mark to go", 10e9, func() bool { out, _ := cli(t, cfgA, "shadow", "single"); return !strings.Contains(out, id) })
}
