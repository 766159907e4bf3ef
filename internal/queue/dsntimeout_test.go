package queue

import (
	"strings"
	"testing"
	"time"
)

// Q-3 (rt41 F2): a recipient deferred because its host stopped
// answering in the middle of the session — no reply to MAIL, to RCPT,
// to an opening step or to the end of the message within umbra's
// timeout — holds umbra's own words on that wait, no host's reply. Its
// delay DSN and its expiry's failure DSN say what happened (the host
// stopped answering, and after which command), to every sender: never
// "last reply: " quoting the timeout as the host's, never the status's
// "connection with the next hop broken", and no Diagnostic-Code (no
// server said anything). message show and the tracking fail event
// (ShownReply) say the same words at the expiry.
func TestQ3HostTimeoutIsNoHostsReply(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 3, 0, 0, time.UTC)
	for _, c := range []struct {
		reply, hop, want string
	}{
		{"451 4.4.2 mx.slow.test[192.0.2.7]:25: reply to MAIL: read tcp 192.0.2.1:40000->192.0.2.7:25: i/o timeout",
			"mx.slow.test[192.0.2.7]:25", "stopped answering: no reply to MAIL"},
		{"451 4.4.2 mx.slow.test[192.0.2.7]:25: reply to RCPT: read tcp 192.0.2.1:40000->192.0.2.7:25: i/o timeout",
			"mx.slow.test[192.0.2.7]:25", "stopped answering: no reply to RCPT"},
		{"451 4.4.2 greeting from mx.slow.test[192.0.2.7]:25: read tcp 192.0.2.1:40000->192.0.2.7:25: i/o timeout",
			"mx.slow.test[192.0.2.7]:25", "stopped answering: no greeting"},
		{"451 4.4.2 mx.slow.test[192.0.2.7]:25: timed out after 10m0s waiting for the reply to the end of the message",
			"mx.slow.test[192.0.2.7]:25", "stopped answering: no reply to the end of the message within 10m0s"},
	} {
		noHostsReplyCase(t, at, "slow.test", c.reply, c.hop, c.want, "connection with the next hop broken", "i/o timeout")
	}
}

// noHostsReplyCase checks the DSNs of a recipient at domain whose last
// reply is umbra's own words on its attempt (reply, its next hop hop),
// to a sender inside the organisation and to one outside: its delay
// notice and its expiry's failure say want after their lead, with no
// "last reply:", no Diagnostic-Code and none of bad; message show and
// the tracking fail event (ShownReply) say the same at the expiry.
func noHostsReplyCase(t *testing.T, at time.Time, domain, reply, hop, want string, bad ...string) {
	t.Helper()
	addr := "rC@" + domain
	for _, from := range []string{"alice@example.org", "bob@ext.example"} {
		in := Inside{SenderDomains: []string{"example.org"}}
		for _, kind := range []Notify{NotifyDelay, NotifyFailure} {
			r := Recipient{Addr: addr, Notify: NotifyFailure | NotifyDelay, Status: Pending,
				Queue: "mx:" + domain, NextHop: hop, LastReply: reply}
			lead := "not delivered yet: "
			if kind == NotifyFailure {
				r.Status, r.LastReply = Failed, expiredReply("550 5.4.7", 180*time.Second, reply)
				lead = "550 5.4.7 message expired after 3m0s; not delivered: "
			}
			m := &Message{ID: 0xABC, From: from, Arrived: at.Add(-180 * time.Second), Rcpts: []Recipient{r}}
			dsn := string(BuildDSNBody("mx.test", m, MemBody([]byte("Subject: x\r\n\r\nbody\r\n")), kind, []int{0}, at, at, 0xDEF, 0, in))
			line := dsnTextLine(dsn, addr)
			if !strings.HasPrefix(line, "<"+addr+">: "+lead) || !strings.Contains(line, want) {
				t.Errorf("%q, sender %s, kind %v: text line %q; want %q and %q", reply, from, kind, line, lead, want)
			}
			for _, b := range append([]string{"last reply:", "Diagnostic-Code"}, bad...) {
				if strings.Contains(dsn, b) {
					t.Errorf("%q, sender %s, kind %v: the DSN says %q:\n%s", reply, from, kind, b, dsn)
				}
			}
			if kind == NotifyFailure {
				if got := ShownReply(m, 0); !strings.HasPrefix(got, lead) || !strings.Contains(got, want) {
					t.Errorf("%q: ShownReply %q; want %q and %q", reply, got, lead, want)
				}
			}
		}
	}
}
