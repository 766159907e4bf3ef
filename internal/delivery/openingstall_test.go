package delivery

import (
	"strings"
	"testing"
	"time"
)

// SPEC Q-3 (delay DSN beside a running attempt): a next hop that
// accepted the connection and then did not answer a step of the
// session's opening — no greeting, or a greeting and no reply to EHLO —
// keeps the attempt running up to command_timeout. A delay notice made
// meanwhile said "no host … has replied yet (its first attempt is under
// way)", Status 4.4.1, of a host that took the connection. It names the
// host's silence and the step, as the envelope's and the data's stalls
// are named: "… stopped answering during the session's opening
// (greeting): no reply for N s", Status 4.4.2, no Diagnostic-Code.
func TestQ3DelayNoticeNamesStallInOpening(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		greetHang  bool
		port       string
	}{
		{"no greeting", "stopped answering during the session's opening (greeting): no reply for ", true, "3865"},
		{"no reply to EHLO", "stopped answering during the session's opening (reply to EHLO): no reply for ", false, "3866"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hop := startFaultHopAt(t, "127.0.0.156:"+tc.port+"1", tc.greetHang)
			hop.mu.Lock()
			hop.ehloHang = !tc.greetHang
			hop.mu.Unlock()
			r := startFaultRigOn(t, "127.0.0.156", "127.0.0.156:"+tc.port+"2", hop, 0, 60*time.Second, 60*time.Second, 30*time.Second)
			r.submit(t, "x@remote.test")
			deadline := time.Now().Add(20 * time.Second) // a bound on the test, not a timing assertion
			for hop.connections() == 0 {
				if time.Now().After(deadline) {
					t.Fatalf("the attempt never connected: %q", r.ev.events)
				}
				time.Sleep(5 * time.Millisecond)
			}
			time.Sleep(100 * time.Millisecond) // the greeting (or EHLO) under way: a bound, not an assertion
			var dsn string
			for i := 0; i < 40 && dsn == ""; i++ {
				r.clk.Advance(5 * time.Second) // the notice at 30 s, beside the stalled opening
				time.Sleep(20 * time.Millisecond)
				for _, b := range r.home.got("sender@example.org") {
					if strings.Contains(b, "Action: delayed") {
						dsn = b
					}
				}
			}
			if dsn == "" {
				t.Fatalf("no delay DSN beside the stalled opening: %q", r.ev.events)
			}
			if strings.Contains(dsn, "has replied yet") {
				t.Errorf("the notice says no host replied, of a host that took the connection:\n%s", dsn)
			}
			if !strings.Contains(dsn, "x@remote.test>: not delivered yet: its next hop "+tc.want) {
				t.Errorf("the notice does not say %q:\n%s", tc.want, dsn)
			}
			if !strings.Contains(dsn, "Status: 4.4.2") || strings.Contains(dsn, "Diagnostic-Code:") {
				t.Errorf("want Status 4.4.2 and no Diagnostic-Code:\n%s", dsn)
			}
		})
	}
}
