package delivery

import (
	"strings"
	"testing"
	"time"
)

// SPEC Q-3 (delay DSN beside a running attempt): on a retry, a delay
// notice made while the attempt is stalled — the next hop took the data
// and does not answer the final dot — reported the previous attempt's
// end (here: the host did not greet) instead of what holds the message
// now. It names the running stall: the host stopped answering during
// the message data, for how long so far.
func TestQ3RetryNoticeNamesRunningStall(t *testing.T) {
	hop := startFaultHopAt(t, "127.0.0.170:9891", true) // the first attempt: no greeting
	r := startFaultRigOn(t, "127.0.0.170", "127.0.0.170:9892", hop, 0, 2*time.Second, 60*time.Second, 30*time.Second)
	r.submit(t, "dhang@remote.test")
	r.waitEvent(t, "defer") // the first attempt ended: no greeting within command_timeout
	hop.heal()
	deadline := time.Now().Add(20 * time.Second) // a bound on the test, not a timing assertion
	for {
		hop.mu.Lock()
		hung := hop.dotsHung
		hop.mu.Unlock()
		if hung == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the retry never reached its stall: %q", r.ev.events)
		}
		r.clk.Advance(5 * time.Second) // to the retry (15 s)
		time.Sleep(20 * time.Millisecond)
	}
	var dsn string
	for i := 0; i < 40 && dsn == ""; i++ {
		r.clk.Advance(5 * time.Second) // the notice at 30 s, beside the stalled retry
		time.Sleep(20 * time.Millisecond)
		for _, b := range r.home.got("sender@example.org") {
			if strings.Contains(b, "Action: delayed") {
				dsn = b
			}
		}
	}
	if dsn == "" {
		t.Fatalf("no delay DSN beside the stalled retry: %q", r.ev.events)
	}
	if !strings.Contains(dsn, "dhang@remote.test>: not delivered yet: its next hop stopped answering during the message data: no reply for ") {
		t.Errorf("the notice does not name the running stall:\n%s", dsn)
	}
	if strings.Contains(dsn, "greeting") {
		t.Errorf("the notice reports the previous attempt's end:\n%s", dsn)
	}
}
