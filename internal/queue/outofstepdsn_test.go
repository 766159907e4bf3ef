package queue

import (
	"strings"
	"testing"
	"time"
)

// A next hop that answered MAIL, RCPT or DATA out of step (503 5.5.1 bad
// sequence of commands, 500, 502: delivery's out-of-step rule) had its
// recipients deferred with umbra's "451 4.4.2 HOST: out of step at CMD:
// REPLY". The host did reply: a delay notice quotes that reply
// (Diagnostic-Code smtp, Remote-MTA the host) under the deferral's
// status — not "connection with the next hop broken", not "no host has
// replied yet" — and an expiry quotes it as the last reply (SPEC Q-3).
func TestQ3DSNQuotesTheHostsOutOfStepReply(t *testing.T) {
	const mx = "mx.example.net[192.0.2.7]:25"
	for _, c := range []struct {
		name, reply string
		kind        Notify
		want        []string
	}{
		{"MAIL 503 delay", "451 4.4.2 " + mx + ": out of step at MAIL: 503 5.5.1 Error: nested MAIL command", NotifyDelay,
			[]string{"Status: 4.4.2", "Diagnostic-Code: smtp; 503 5.5.1 Error: nested MAIL command", "<x@example.net>: 503 5.5.1 Error: nested MAIL command"}},
		{"RCPT 500 delay", "451 4.4.2 " + mx + ": out of step at RCPT: 500 command not recognized", NotifyDelay,
			[]string{"Status: 4.4.2", "Diagnostic-Code: smtp; 500 command not recognized"}},
		{"expired after a DATA 503", expiredReply("550 5.4.7", 5*24*time.Hour, "451 4.4.2 "+mx+": out of step at DATA: 503 5.5.1 need RCPT"), NotifyFailure,
			[]string{"Status: 5.4.7", "last reply: 503 5.5.1 need RCPT", "Diagnostic-Code: smtp; 503 5.5.1 need RCPT\r\n"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := &Message{ID: 7, From: "sender@example.org", Arrived: time.Unix(1e9, 0),
				Rcpts: []Recipient{{Addr: "x@example.net", Queue: "mx:example.net", NextHop: mx, LastReply: c.reply, Status: Failed}}}
			dsn := string(BuildDSN("mx.test", m, []byte("Subject: s\r\n\r\nbody\r\n"), c.kind, []int{0}, time.Unix(1e9+60, 0), time.Unix(1e9+3600, 0), 8, 0))
			for _, w := range c.want {
				if !strings.Contains(dsn, w) {
					t.Errorf("no %q:\n%s", w, dsn)
				}
			}
			if !strings.Contains(dsn, "Remote-MTA: dns; mx.example.net\r\n") {
				t.Errorf("the host that replied is not the Remote-MTA:\n%s", dsn)
			}
			for _, not := range []string{"connection with the next hop broken", "has replied yet", "out of step at"} {
				if strings.Contains(dsn, not) {
					t.Errorf("the host's reply told as %q:\n%s", not, dsn)
				}
			}
		})
	}
}
