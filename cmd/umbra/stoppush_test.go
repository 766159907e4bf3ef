package main

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/testsupport"
)

// SR-3, SR-15: hub-a relays a message to hub-b in a shadow session and
// keeps its copy. hub-b delivers it to the next hop during its SIGTERM
// drain (the next hop answers the final dot after the signal), so the
// discard it owes hub-a is committed when no new session comes in, and
// hub-b stays down for good. The discard reaches hub-a before hub-b
// exits — by the watch session hub-a keeps open to hub-b while it holds
// copies handed on there (its long poll, which the drain keeps open:
// discardrt39), or else by the stop's push (XDISCARD, shadow verbs 13;
// the push alone is proved in internal/smtp shadowpush_test.go and
// internal/delivery stopdelay_test.go): hub-a drops the copy, and no
// takeover follows the failed heartbeats (3 s here) to send the message
// again.
func TestStopPushesOwedDiscards(t *testing.T) {
	t.Parallel()
	p := newShadowPair(t)
	r := &recorder{seen: map[string]int{}, bodies: map[string]string{}}
	reached, answer := make(chan struct{}, 1), make(chan struct{})
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) {
		return &gatedReplySession{slowReplySession{r: r, reached: reached}, answer}, nil
	}))
	srv.Domain, srv.ErrorLog = "slow.test", nopLog{}
	ln := testsupport.Listen(t, p.sink)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	hb := startUmbra(t, p.cfgB, p.b)
	ha := startUmbra(t, p.cfgA, p.a)
	ha.dumpLogIfFailed()
	if reply := rawSend(t, p.a, "a@example.org", []string{"b@remote.example"}, "Subject: stop-push\r\n\r\nhello"); !strings.HasPrefix(reply, "250") {
		t.Fatalf("send: %q", reply)
	}
	select {
	case <-reached: // the next hop has it; its 250 comes in the drain
	case <-time.After(30 * time.Second):
		hb.dumpLog()
		t.Fatal("the message never reached the next hop")
	}
	waitCond(t, "hub-a to hold the copy for hub-b", 10*time.Second, func() bool { s, _ := p.held(t, p.cfgA, "hub-b"); return s == 1 })
	hb.cmd.Process.Signal(syscall.SIGTERM)
	waitLogCount(t, hb, "draining:", 1) // the drain runs (a 500 ms sleep could end before it began on a loaded machine)
	close(answer)
	select {
	case <-hb.done:
		hb.done <- nil
	case <-time.After(60 * time.Second):
		hb.dumpLog()
		t.Fatal("hub-b did not stop after SIGTERM")
	}
	// Down for good. Once hub-a holds the copy no longer, nothing is
	// left to take over; a copy left would be taken over past the
	// takeover delay (3 s) and delivered, which ends the wait as well
	// and shows below (a fixed 6 s sleep and one read instead failed a
	// slow machine's discard, and passed a takeover still under way).
	waitHeldGone(t, hb, "hub-a to drop its copy of the message hub-b delivered before it stopped", func() (int, int) { return p.held(t, p.cfgA, "hub-b") })
	if out, _ := cli(t, p.cfgA, "track", "--json", "--sender", "a@example.org"); strings.Contains(out, `"event": "takeover"`) {
		t.Errorf("hub-a took the delivered message over:\n%s", out)
	}
	if n := r.counts()["stop-push"]; n != 1 {
		t.Fatalf("the next hop got the message %d times, want once", n)
	}
	waitDiscardsLogged(t, ha, hb)
}

// waitHeldGone waits (20 s at most) until held, a holder's count of the
// copies it keeps for a primary and of those it took over, reads 0 and
// 0; d's log is shown if it never does.
func waitHeldGone(t *testing.T, d *daemon, what string, held func() (int, int)) {
	t.Helper()
	s, pending := -1, -1
	deadline := time.Now().Add(20 * time.Second)
	for {
		if s, pending = held(); s == 0 && pending == 0 {
			return
		}
		if time.Now().After(deadline) {
			d.dumpLog()
			t.Fatalf("timed out: %s (it holds %d copies, %d taken over)", what, s, pending)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitDiscardsLogged waits (10 s at most) until the stopped hub-b's log
// says it handed its discards over, or hub-a's that hub-b's discard
// came. Either is right: the holder's own query (its watch session's
// heartbeat) may have fetched the discards in the drain first, which
// leaves the stop nothing to hand over (CI run 145). hub-a writes its
// line after the commit that dropped the copy, so a count of its copies
// read 0 can come before it.
func waitDiscardsLogged(t *testing.T, ha, hb *daemon) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		logB, _ := os.ReadFile(hb.log)
		logA, _ := os.ReadFile(ha.log)
		if strings.Contains(string(logB), "discard notifications handed to the shadow server") ||
			strings.Contains(string(logA), "shadow copy discarded by hub-b") {
			return
		}
		if time.Now().After(deadline) {
			hb.dumpLog()
			t.Fatal("neither hub-b's log says it handed its discards over nor hub-a's that hub-b's discard came")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
