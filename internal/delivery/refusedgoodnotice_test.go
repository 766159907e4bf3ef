package delivery

import (
	"strings"
	"testing"
	"time"
)

// SPEC Q-3 (delay DSN beside a running attempt): a recipient whose RCPT
// the next hop refused for good (550) while the attempt goes on with
// the others (the accepted one's final dot held) has had its host's
// reply, and it will not be tried again: its failure DSN, at the
// attempt's end, quotes that reply. A delay notice made meanwhile said
// of it "no host … has replied yet" (Status 4.4.1) and that umbra keeps
// trying: it does not list it at all (Action: delayed is a recipient
// umbra retries, RFC 3464 §2.3.3), and lists the stalled one as ever.
// Lock-step and pipelined.
func TestQ3DelayNoticeLeavesOutRcptRefusedForGood(t *testing.T) {
	for _, tc := range []struct {
		name       string
		pipelining bool
		port       string
	}{{"one command at a time", false, "3987"}, {"pipelined", true, "3988"}} {
		t.Run(tc.name, func(t *testing.T) {
			hop := startFaultHopAt(t, "127.0.0.170:"+tc.port+"1", false)
			hop.mu.Lock()
			hop.pipelining = tc.pipelining
			hop.mu.Unlock()
			r := startFaultRigOn(t, "127.0.0.170", "127.0.0.170:"+tc.port+"2", hop, 0, 60*time.Second, 60*time.Second, 30*time.Second)
			r.submit(t, "dhang@remote.test", "pfail@remote.test")
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
			if strings.Contains(dsn, "pfail@remote.test") {
				t.Errorf("the delay notice lists a recipient its next hop refused for good:\n%s", dsn)
			}
			if strings.Contains(dsn, "has replied yet") {
				t.Errorf("the notice says no host replied:\n%s", dsn)
			}
			if !strings.Contains(dsn, "dhang@remote.test>: not delivered yet: its next hop stopped answering during the message data") {
				t.Errorf("the notice does not report the stalled recipient:\n%s", dsn)
			}
		})
	}
}
