package delivery

import (
	"strings"
	"testing"
	"time"
)

// SPEC Q-3 (delay DSN beside a running attempt): a recipient whose RCPT
// the next hop answered with a temporary refusal (450) while the
// attempt goes on with the others (the accepted one's final dot held)
// has had its host's reply. The delay notice made meanwhile said of it
// "no host … has replied yet", Status 4.4.1: it names the host and
// quotes its reply, as the attempt's end would (Remote-MTA, the reply's
// own status, its Diagnostic-Code).
//
// The same over a pipelined transaction (the next hop offers
// PIPELINING: the replies to the envelope come together,
// smtp.Client.SetInData).
func TestQ3DelayNoticeQuotesRefusedRcptReply(t *testing.T) {
	for _, tc := range []struct {
		name       string
		pipelining bool
		port       string
	}{{"one command at a time", false, "3860"}, {"pipelined", true, "3861"}} {
		t.Run(tc.name, func(t *testing.T) { delayNoticeQuotesRefusedRcpt(t, tc.pipelining, tc.port) })
	}
}

func delayNoticeQuotesRefusedRcpt(t *testing.T, pipelining bool, port string) {
	hop := startFaultHopAt(t, "127.0.0.156:"+port+"1", false)
	hop.mu.Lock()
	hop.pipelining = pipelining
	hop.mu.Unlock()
	r := startFaultRigOn(t, "127.0.0.156", "127.0.0.156:"+port+"2", hop, 0, 60*time.Second, 60*time.Second, 30*time.Second)
	r.submit(t, "dhang@remote.test", "rrefuse@remote.test")
	deadline := time.Now().Add(20 * time.Second) // a bound on the test, not a timing assertion
	for {
		hop.mu.Lock()
		hung := hop.dotsHung
		hop.mu.Unlock()
		if hung == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the transaction never reached its stall: %q", r.ev.events)
		}
		time.Sleep(5 * time.Millisecond)
	}
	var dsn string
	for i := 0; i < 40 && dsn == ""; i++ {
		r.clk.Advance(5 * time.Second) // the notice at 30 s, beside the stalled transaction
		time.Sleep(20 * time.Millisecond)
		for _, b := range r.home.got("sender@example.org") {
			if strings.Contains(b, "Action: delayed") {
				dsn = b
			}
		}
	}
	if dsn == "" {
		t.Fatalf("no delay DSN beside the stalled transaction: %q", r.ev.events)
	}
	if strings.Contains(dsn, "rrefuse@remote.test>: not delivered yet: no host") {
		t.Errorf("the notice says no host replied, of a recipient its next hop refused for now:\n%s", dsn)
	}
	if !strings.Contains(dsn, "rrefuse@remote.test>: 450 4.2.1 mailbox busy, try later") {
		t.Errorf("the notice does not quote the next hop's reply to the refused RCPT:\n%s", dsn)
	}
	_, block, _ := strings.Cut(dsn, "Final-Recipient: rfc822; rrefuse@remote.test")
	block, _, _ = strings.Cut(block, "\r\n\r\n")
	for _, want := range []string{"Status: 4.2.1", "Remote-MTA: dns; [127.0.0.156]", "Diagnostic-Code: smtp; 450 4.2.1 mailbox busy, try later"} {
		if !strings.Contains(block, want) {
			t.Errorf("the refused recipient's fields lack %q:\n%s", want, block)
		}
	}
}
