package main

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/testsupport"
)

// midPushIP is the loopback address of the daemons and hubs of the
// mid-push tests (ports 7000-7499: addrInRange).
const midPushIP = "127.0.0.156"

// midPushAddrs returns n distinct addresses on midPushIP whose ports
// (7000-7499) were free a moment ago: addrInRange closes what it
// tried, so two calls may give one port, and the second listener of a
// fixture failed to bind.
func midPushAddrs(t *testing.T, n int) []string {
	t.Helper()
	seen := map[string]bool{}
	var out []string
	for try := 0; len(out) < n && try < 100*n; try++ {
		if a := addrInRange(t, midPushIP, 7000, 500); !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	if len(out) < n {
		t.Fatalf("%d distinct free addresses on %s, want %d", len(out), midPushIP, n)
	}
	return out
}

// midPushOrg is hub-a (site a), which copies on receipt prefer-remote
// (reject_on_shadow_failure off), and in site b hub-b, a real umbra, and
// hub-c, a scripted hub that ends each copy's session mid-way as
// script.Fault says. hub-a's next hop is down: its messages wait there.
// It returns hub-a's address, configuration and metrics address,
// hub-b's configuration, and hub-c.
func midPushOrg(t *testing.T, script testsupport.HubScript) (a, cfgA, metricsA, cfgB string, hc *testsupport.Hub, ha *daemon) {
	t.Helper()
	return midPushOrgAt(t, script, midPushAddrs(t, 5))
}

// midPushOrgAt is midPushOrg on the five distinct addresses given:
// hub-a's, hub-b's, the sink's, hub-c's and hub-a's metrics'.
func midPushOrgAt(t *testing.T, script testsupport.HubScript, addrs []string) (a, cfgA, metricsA, cfgB string, hc *testsupport.Hub, ha *daemon) {
	t.Helper()
	dir := t.TempDir()
	a, b, sink := addrs[0], addrs[1], addrs[2]
	hc = testsupport.StartHub(t, addrs[3], script)
	topoPath := hubCInSiteBTopology(t, dir, a, b, hc.Addr(), sink, "hub-a", "hub-b")
	cfgA, _ = orgHub(t, dir, "hub-a", a, topoPath, shadowOnReceipt("prefer-remote", false), "")
	cfgB, _ = orgHub(t, dir, "hub-b", b, topoPath, "0s", "")
	metricsA = addrs[4]
	editConfig(t, cfgA, `metrics_listen: ""`, "metrics_listen: "+metricsA)
	startUmbra(t, cfgB, b).dumpLogIfFailed()
	ha = startUmbra(t, cfgA, a)
	ha.dumpLogIfFailed()
	return a, cfgA, metricsA, cfgB, hc, ha
}

// orgIDIn is the organisation message id a copy's data carries in
// front (X-Umbra-Org-Id: orgIDLine), "" when none.
func orgIDIn(data string) string {
	if m := orgIDLine.FindStringSubmatch(data); m != nil {
		return m[1]
	}
	return ""
}

// checkMidPushCopies checks hub-a's side after n messages whose replies
// all named hub-b: hub-b holds their n copies, the receipt metric
// counts n copied and none held by hub-a only, and no mid-push failure
// was logged as a refusal.
func checkMidPushCopies(t *testing.T, cfgA, metricsA, cfgB string, ha *daemon, n int) {
	t.Helper()
	p := &shadowPair{}
	waitCond(t, "hub-b to hold the copies for hub-a", 30*time.Second, func() bool { s, _ := p.held(t, cfgB, "hub-a"); return s == n })
	body, err := scrapeMetrics(metricsA)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(body, fmt.Sprintf(`umbra_shadow_receipt_total{connector="org",result="copied"} %d`, n)) || strings.Contains(body, `result="single"`) {
		t.Errorf("receipt metric:\n%s", grepLines(body, "umbra_shadow_receipt_total"))
	}
	if out, _ := cli(t, cfgA, "shadow", "single"); strings.Contains(out, "midpush-") {
		t.Errorf("messages held by hub-a only:\n%s", out)
	}
	log := readLog(ha)
	if !strings.Contains(log, "shadow copy push failed mid-session: trying the next shadow server") {
		t.Error("hub-a does not log the mid-push failure before it tries the next shadow server")
	}
	if strings.Contains(log, "shadow copy refused: trying the next shadow server") {
		t.Error("hub-a logs a mid-push failure as a refusal")
	}
}

// SR-17 (midpush41, outside check shadow2): a shadow server that ends a
// copy's push mid-session — a 421 as it stops (SIGTERM) at MAIL, at DATA
// or after the data's end, or an EOF or a reset (kill -9) before its
// final reply — is a failed try, as a refusal is: the next candidate
// keeps the copy within the same receipt, and the sender's 250 names it.
// It was tried again on the same server only, which was going away, and
// the message was accepted "no shadow copy" while hub-b answered.
//
// After the data's end the failing server may have stored the copy (a
// kill -9 after its commit, before its reply): hub-a's record names
// hub-b only, and hub-c's copy must never be delivered while hub-a
// lives. hub-a owes hub-c the copy's discard (its XQUERYDISCARD lists
// the org id), and answers hub-c's XQUERYHELD for it "done" (its record
// names another holder). A reply to any step (the 421s) says hub-c kept
// nothing: it is owed no discard (receipt42 item 2).
func TestShadowOnReceiptMidPushFailureCopiesElsewhere(t *testing.T) {
	for _, fault := range []string{testsupport.FaultMail421, testsupport.FaultData421,
		testsupport.FaultDot421, testsupport.FaultDotEOF, testsupport.FaultDotReset} {
		t.Run(fault, func(t *testing.T) {
			a, cfgA, metricsA, cfgB, hc, ha := midPushOrg(t, testsupport.HubScript{Fault: fault})
			const n = 4
			for i := range n {
				reply := rawSend(t, a, "a@example.org", []string{"b@remote.example"}, fmt.Sprintf("Subject: midpush-%d\r\n\r\nhello", i))
				if !strings.HasPrefix(reply, "250") || !strings.Contains(reply, "shadow copy on hub-b") {
					t.Fatalf("message %d: reply %q; want its copy on hub-b (hub-c ended the push mid-way: %s)", i, reply, fault)
				}
			}
			if hc.Faults.Load() == 0 {
				t.Fatalf("no copy was pushed to hub-c (%d sessions): the test proves nothing", hc.Count())
			}
			checkMidPushCopies(t, cfgA, metricsA, cfgB, ha, n)
			if fault == testsupport.FaultMail421 || fault == testsupport.FaultData421 || fault == testsupport.FaultDot421 {
				// A reply — at MAIL, at DATA, or to the data's end —
				// says hub-c kept nothing (receipt42 item 2): it is
				// no server that may hold the copy, owed no discard.
				s := rawDial(t, a)
				s.cmd("EHLO hub-c", "250")
				s.cmd("XSHADOW hub-c", "250")
				if got := s.cmd("XQUERYDISCARD 100", "250"); len(got) != 1 {
					t.Errorf("discards owed to hub-c, which answered %s and kept nothing: %q; want none", fault, got)
				}
				s.cmd("QUIT", "221")
				return
			}
			// The ambiguous case: hub-c read each copy whole.
			var orgs []string
			for _, d := range hc.Data() {
				if id := orgIDIn(d); id != "" && !strings.Contains(strings.Join(orgs, " "), id) {
					orgs = append(orgs, id)
				}
			}
			if len(orgs) == 0 {
				t.Fatalf("hub-c read no copy with an org id: %q", hc.Data())
			}
			s := rawDial(t, a)
			s.cmd("EHLO hub-c", "250")
			s.cmd("XSHADOW hub-c", "250")
			for _, id := range orgs {
				if got := strings.Join(s.cmd("XQUERYHELD "+id, "250"), "\n"); !strings.Contains(got, id) {
					t.Errorf("XQUERYHELD %s as hub-c: %q; want it done (hub-a's record names hub-b)", id, got)
				}
			}
			got := strings.Join(s.cmd("XQUERYDISCARD 100", "250"), "\n")
			for _, id := range orgs {
				if !strings.Contains(got, id) {
					t.Errorf("discards owed to hub-c: %q; want %s (hub-c may have stored that copy)", got, id)
				}
			}
			s.cmd("QUIT", "221")
		})
	}
}

// SR-17, version 6 (midpush41): copies of several sessions pushed
// together in one batch to hub-c, which is killed after the batch's
// BDAT … LAST (its session reset with no reply). Each copy's second
// try alone fails there too, and each moves on to hub-b within its own
// receipt: every sender's 250 names hub-b, none is held by hub-a only.
func TestShadowOnReceiptBatchResetCopiesElsewhere(t *testing.T) {
	a, cfgA, metricsA, cfgB, hc, ha := midPushOrg(t, testsupport.HubScript{Fault: testsupport.FaultDotReset,
		FaultDelay: 300 * time.Millisecond, EHLO: []string{"XSHADOW 6", "PIPELINING", "CHUNKING", "8BITMIME"}})
	const n = 12
	var wg sync.WaitGroup
	replies := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			replies[i], errs[i] = sendOne(a, fmt.Sprintf("midpush-%d", i))
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || !strings.Contains(replies[i], "shadow copy on hub-b") {
			t.Errorf("message %d: reply %q (%v); want its copy on hub-b", i, replies[i], errs[i])
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	if b := hc.Batched.Load(); b < 2 {
		t.Fatalf("hub-c was pushed batches of at most %d copies (%d faults): no batch of several sessions' copies failed", b, hc.Faults.Load())
	}
	checkMidPushCopies(t, cfgA, metricsA, cfgB, ha, n)
}

// SR-17, SR-3 (midpush41, the ambiguous case with real daemons): hub-b
// keeps hub-a's copy on receipt — its commit is done — and its session
// is reset before the reply reaches hub-a (killed in between; the proxy
// in front of hub-b cuts it), on the second session too. hub-a makes the
// copy on hub-c within the receipt, its record naming hub-c alone, and
// hub-b holds a copy hub-a does not name. hub-b, whose heartbeats reach
// hub-a, fetches the copy's discard and drops it: within a few
// heartbeats it holds nothing for hub-a. After hub-a's loss hub-c takes
// the message over, and the sink gets it exactly once.
func TestMidPushResetAfterCommitOrphanCopyDiscarded(t *testing.T) {
	t.Parallel()
	in := midPushAddrs(t, 6)
	o := hungPeerOrgAt(t, in[0], in[1], in[2], in[3], in[4], in[5])
	p := &shadowPair{}
	o.proxy.cut.Store(true)
	reply := rawSend(t, o.a, "a@example.org", []string{"x@remote.example"}, "Subject: orphan\r\n\r\nhello")
	if !strings.HasPrefix(reply, "250") || !strings.Contains(reply, "shadow copy on hub-c") {
		t.Fatalf("reply %q with hub-b's reply cut after its commit: want the copy on hub-c", reply)
	}
	if !strings.Contains(o.proxy.answers(), "Shadow copy kept as") {
		t.Fatalf("hub-b did not keep the copy before its session was cut (answers %q): the test proves nothing", o.proxy.answers())
	}
	waitCond(t, "hub-b to drop the copy hub-a does not name", 30*time.Second, func() bool { s, k := p.held(t, o.cfgB, "hub-a"); return s == 0 && k == 0 })
	time.Sleep(3 * time.Second) // a few heartbeats: still none
	if s, k := p.held(t, o.cfgB, "hub-a"); s != 0 || k != 0 {
		t.Fatalf("hub-b holds %d copies for hub-a (%d taken over); want none", s, k)
	}
	if s, _ := p.held(t, o.cfgC, "hub-a"); s != 1 {
		t.Fatalf("hub-c holds %d copies for hub-a; want the message's", s)
	}
	o.ha.kill()
	sink := startRecorder(t, o.sink)
	waitArrived(t, sink, []string{"orphan"}, o.hc)
	time.Sleep(3 * time.Second) // a second copy on its way would land now
	if k := sink.counts()["orphan"]; k != 1 {
		t.Errorf("the message arrived %d times, want once", k)
	}
}
