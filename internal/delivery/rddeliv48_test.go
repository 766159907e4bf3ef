package delivery

import (
	"context"
	"strings"
	"testing"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/queue"
	"umbra/internal/smtp"
)

// SMTP-1 (rddeliv48): an LMTP server's 503 to the end of the message
// for one recipient is deferred (deliv48), but that recipient's message
// went to the server: it is no recipient "answered out of step before
// its message went to the host". Neither a fresh session's next-host
// rule (nextHostFor: the route's next mailbox server) nor a reused
// session's fresh retry (reuse) sends it again in the same attempt — a
// server whose replies slipped may hold it already; the retry schedule
// takes it. Its deferral names the reply it answers, the end of the
// message, not the DATA its 354 accepted.
func TestSMTP1LMTPFinal503IsNotResentInTheAttempt(t *testing.T) {
	const hop = "mbx-b[127.0.0.3]:24"
	accepted := []queue.Result{{Rcpt: 0, NextHop: hop}, {Rcpt: 1, NextHop: hop}}
	replies := []smtp.DataReply{{}, {Err: &gosmtp.SMTPError{Code: 503, EnhancedCode: gosmtp.EnhancedCode{5, 5, 1}, Message: "bad sequence of commands"}}}
	res := finalResults(nil, hop, accepted, replies, nil, true, queue.DeliveredOK, "", "")
	if r := res[1]; r.Outcome != queue.Deferred || !strings.Contains(r.Reply, "503 5.5.1 bad sequence of commands") {
		t.Fatalf("the 503'd recipient: %v %q, want deferred quoting the server", r.Outcome, r.Reply)
	}
	if strings.Contains(res[1].Reply, "out of step at DATA") {
		t.Errorf("%q: the server accepted DATA; its 503 answered the end of the message", res[1].Reply)
	}
	if _, again, _ := nextHostFor(res, false); len(again) != 0 {
		t.Errorf("nextHostFor sends %v to the next server though the message went to this one", again)
	}
}

// SMTP-1, Q-3 (rddeliv48, the route's sibling of deliv48 item 6): a hub
// of the route that answers out of step, with the route's next hub
// taking the connection but closing it before any greeting, leaves the
// recipients the first hub's own answer — as deliverRemote's next host
// that never answers does (only an opening refusal, a reply, outranks
// it). The second hub gave no reply; its silence made the hub that
// answered count as not reached.
func TestSMTP1RouteServerOutOfStepKeptOverSilentNextHub(t *testing.T) {
	ln1, ln2 := pair48(t)
	ehlo := []string{"hub-b.test", "XSHADOW 20", "PIPELINING"}
	startPeer48On(t, ln1, ehlo, func(conn int, cmd string) string {
		switch {
		case strings.HasPrefix(cmd, "XSHADOW"):
			return "250 db-b"
		case strings.HasPrefix(cmd, "MAIL"):
			return "503 5.5.1 Error: nested MAIL command"
		}
		return ""
	})
	go func() {
		for {
			c, err := ln2.Accept()
			if err != nil {
				return
			}
			c.Close() // no greeting
		}
	}()
	t.Cleanup(func() { ln2.Close() })
	d := siteBDeliverer(t, ln1.Addr().String(), ln2.Addr().String())
	m := message("u@b.test")
	res := d.Deliver(context.Background(), m, body, all(m))
	if len(res) != 1 {
		t.Fatalf("results %+v, want one", res)
	}
	if r := res[0]; r.Outcome != queue.Deferred || !strings.Contains(r.Reply, "503 5.5.1") || !r.Answered || r.NextHop != "hub-b1" {
		t.Errorf("%v %q via %s (answered %v); want the first hub's out-of-step answer, answered", r.Outcome, r.Reply, r.NextHop, r.Answered)
	}
}
