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

// release13 is the last main whose shadow verbs are at version 13
// (XDISCARD one notification a command); this build speaks 14.
const release13 = "adef5b43"

// startWith runs the daemon of cfg at addr with bin ("" for this build).
func startWith(t *testing.T, bin, cfg, addr string) *daemon {
	t.Helper()
	if bin == "" {
		return startUmbra(t, cfg, addr)
	}
	var d *daemon
	withBinary(bin, func() { d = startUmbra(t, cfg, addr) })
	return d
}

// heldWith is shadowPair.held with the CLI of bin ("" for this build).
func heldWith(t *testing.T, bin string, p *shadowPair, cfg, primary string) (s, pending int) {
	t.Helper()
	if bin == "" {
		return p.held(t, cfg, primary)
	}
	withBinary(bin, func() { s, pending = p.held(t, cfg, primary) })
	return s, pending
}

// Compatible on the wire with a server of shadow verbs version 13, in
// both directions (an organisation upgrades one server at a time): a
// relay's copy is kept and discarded, a stopping primary's owed discards
// are handed over (one a command to 13: PushDiscards; a primary of 13
// pushes one a command to this build, which reads that form still), and
// a copy on receipt is taken over by its holder when the primary dies
// for good, and delivered once.
func TestShadowCompatibleVersion13(t *testing.T) {
	old := buildRelease(t, release13)
	for _, c := range []struct {
		name       string
		binA, binB string
	}{
		{"v13-shadow-server-new-primary", old, ""},
		{"new-shadow-server-v13-primary", "", old},
	} {
		t.Run("relay-"+c.name, func(t *testing.T) {
			p := newShadowPair(t)
			sink := startRecorder(t, p.sink)
			b := startWith(t, c.binB, p.cfgB, p.b)
			startWith(t, c.binA, p.cfgA, p.a)
			acked := sendAll(t, nil, p.a, "compat13-"+c.name, 3, 1)
			waitArrived(t, sink, acked, b)
			waitCond(t, "hub-a's copies to be discarded", 45*time.Second,
				func() bool { s, pending := heldWith(t, c.binA, p, p.cfgA, "hub-b"); return s == 0 && pending == 0 })
			time.Sleep(time.Second)
			for _, s := range acked {
				if n := sink.counts()[s]; n != 1 {
					t.Fatalf("%s arrived %d times", s, n)
				}
			}
		})
		t.Run("stop-push-"+c.name, func(t *testing.T) {
			stopPushWith(t, c.binA, c.binB)
		})
	}
	for _, c := range []struct {
		name       string
		binA, binB string
	}{
		{"v13-holder-new-primary", "", old},
		{"new-holder-v13-primary", old, ""},
	} {
		t.Run("takeover-"+c.name, func(t *testing.T) {
			o := newReceiptHubs(t, "prefer-remote", true)
			hb := startWith(t, c.binB, o.cfgB, o.b)
			ha := startWith(t, c.binA, o.cfgA, o.a)
			reply := rawSend(t, o.a, "a@example.org", []string{"b@remote.example"}, "Subject: compat13-takeover\r\n\r\nhello")
			if !strings.HasPrefix(reply, "250") || !strings.Contains(reply, "shadow copy on hub-b") {
				ha.dumpLog()
				t.Fatalf("reply %q: want a 250 naming the shadow copy on hub-b", reply)
			}
			p := &shadowPair{}
			waitCond(t, "hub-b to hold the copy for hub-a", 30*time.Second,
				func() bool { s, _ := heldWith(t, c.binB, p, o.cfgB, "hub-a"); return s == 1 })
			ha.kill()
			os.RemoveAll(o.dataA)
			sink := startRecorder(t, o.sink)
			waitArrived(t, sink, []string{"compat13-takeover"}, hb)
			time.Sleep(time.Second)
			if n := sink.counts()["compat13-takeover"]; n != 1 {
				t.Fatalf("the message taken over arrived %d times, want once", n)
			}
		})
	}
}

// stopPushWith is TestStopPushesOwedDiscards with hub-a run by binA and
// hub-b by binB ("" for this build): hub-b delivers during its SIGTERM
// drain and stays down; its stop hands the discard over, and hub-a
// takes nothing over.
func stopPushWith(t *testing.T, binA, binB string) {
	p := newShadowPair(t)
	r := &recorder{seen: map[string]int{}, bodies: map[string]string{}}
	reached, answer := make(chan struct{}, 3), make(chan struct{})
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) {
		return &gatedReplySession{slowReplySession{r: r, reached: reached}, answer}, nil
	}))
	srv.Domain, srv.ErrorLog = "slow.test", nopLog{}
	ln := testsupport.Listen(t, p.sink)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	hb := startWith(t, binB, p.cfgB, p.b)
	ha := startWith(t, binA, p.cfgA, p.a)
	ha.dumpLogIfFailed()
	// Three messages, three discards owed at the stop: several a
	// command to a server of 14, one a command to 13.
	subjects := []string{"stop-push13-0", "stop-push13-1", "stop-push13-2"}
	for _, subj := range subjects {
		if reply := rawSend(t, p.a, "a@example.org", []string{"b@remote.example"}, "Subject: "+subj+"\r\n\r\nhello"); !strings.HasPrefix(reply, "250") {
			t.Fatalf("send: %q", reply)
		}
	}
	for range subjects {
		select {
		case <-reached:
		case <-time.After(30 * time.Second):
			hb.dumpLog()
			t.Fatal("the messages never all reached the next hop")
		}
	}
	waitCond(t, "hub-a to hold the copies for hub-b", 10*time.Second, func() bool { s, _ := heldWith(t, binA, p, p.cfgA, "hub-b"); return s == len(subjects) })
	hb.cmd.Process.Signal(syscall.SIGTERM)
	waitLogCount(t, hb, "draining:", 1) // the answer comes in the drain (a 500 ms sleep could end before it began)
	close(answer)
	select {
	case <-hb.done:
		hb.done <- nil
	case <-time.After(60 * time.Second):
		hb.dumpLog()
		t.Fatal("hub-b did not stop after SIGTERM")
	}
	// Once hub-a holds the copies no longer nothing is left to take
	// over (TestStopPushesOwedDiscards reads it so).
	waitHeldGone(t, hb, "hub-a to drop its copies of the messages hub-b delivered before it stopped",
		func() (int, int) { return heldWith(t, binA, p, p.cfgA, "hub-b") })
	for _, subj := range subjects {
		if n := r.counts()[subj]; n != 1 {
			t.Fatalf("the next hop got %s %d times, want once", subj, n)
		}
	}
	waitDiscardsLogged(t, ha, hb)
}
