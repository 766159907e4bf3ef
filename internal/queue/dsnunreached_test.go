package queue

import (
	"strings"
	"testing"
	"time"
)

// Q-3 (rt43-delivery F2): a recipient deferred because no host of its
// attempt could be reached — the connection refused, timed out, no
// route — holds umbra's own words on the attempt, no host's reply. Its
// expiry quoted them as "last reply: 451 4.4.1 no answer from the next
// hop ([HOST])" (the status's reason put in for umbra's text: a reply no
// host gave, and "no answer" for a refusal), and its delay notice the
// same. Both say what happened, in words, with no Diagnostic-Code, as a
// host that stopped answering is said (TestQ3HostTimeoutIsNoHostsReply);
// message show and the tracking fail event (ShownReply) say the same at
// the expiry.
func TestQ3UnreachedHostIsNoHostsReply(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 3, 0, 0, time.UTC)
	for _, c := range []struct {
		reply, hop, want string
	}{
		{"451 4.4.1 connect to mx.down.test[192.0.2.7]:25: dial tcp 192.0.2.7:25: connect: connection refused",
			"mx.down.test[192.0.2.7]:25", "could not be reached (connection refused)"},
		{"451 4.4.1 connect to mx.down.test[192.0.2.7]:25: dial tcp 192.0.2.7:25: i/o timeout",
			"mx.down.test[192.0.2.7]:25", "could not be reached (connection timed out)"},
		{"451 4.4.1 connect to mx.down.test[192.0.2.7]:25: dial tcp 192.0.2.7:25: connect: no route to host",
			"mx.down.test[192.0.2.7]:25", "could not be reached (no route to host)"},
		{"451 4.4.1 no host reachable", "", "could be reached"},
	} {
		noHostsReplyCase(t, at, "down.test", c.reply, c.hop, c.want, "no answer from the next hop", "dial tcp")
	}
}

// Q-3 (rropsrt43): a reply a host gave that happens to read like
// umbra's own words on an unreached host — a relay's temporary refusal
// "451 4.4.1 connect to mx.far.test[…]:25: … connection refused", about
// a host beyond it — is that host's reply: umbra reached the host that
// gave it (the recipient's NextHop, which the words do not name). Its
// delay notice and expiry quote it (Diagnostic-Code, "last reply: "),
// not "the relay could not be reached", which was false: it answered.
//
// The same of a host that stopped answering (hostStopped): a relay's
// "451 4.4.2 mx.far.test[…]:25: reply to RCPT: … i/o timeout" is its
// reply, not "the relay stopped answering".
func TestQ3RemoteConnectWordsStayRemoteReply(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 3, 0, 0, time.UTC)
	for _, remote := range []string{
		"451 4.4.1 connect to mx.far.test[192.0.2.9]:25: dial tcp 192.0.2.9:25: connect: connection refused",
		"451 4.4.2 mx.far.test[192.0.2.9]:25: reply to RCPT: read tcp 192.0.2.9:25: i/o timeout",
		"451 4.4.2 greeting from mx.far.test[192.0.2.9]:25: read tcp 192.0.2.9:25: i/o timeout",
	} {
		remoteCase(t, at, remote)
	}
}

func remoteCase(t *testing.T, at time.Time, remote string) {
	t.Helper()
	for _, kind := range []Notify{NotifyDelay, NotifyFailure} {
		r := Recipient{Addr: "rC@far.test", Notify: NotifyFailure | NotifyDelay, Status: Pending,
			Queue: "mx:far.test", NextHop: "mx.relay.test[192.0.2.7]:25", LastReply: remote}
		if kind == NotifyFailure {
			r.Status, r.LastReply = Failed, expiredReply("550 5.4.7", 180*time.Second, remote)
		}
		m := &Message{ID: 0xABC, From: "bob@ext.example", Arrived: at.Add(-180 * time.Second), Rcpts: []Recipient{r}}
		dsn := string(BuildDSNBody("mx.test", m, MemBody([]byte("Subject: x\r\n\r\nbody\r\n")), kind, []int{0}, at, at, 0xDEF, 0, Inside{SenderDomains: []string{"example.org"}}))
		if strings.Contains(dsn, "could not be reached") || strings.Contains(dsn, "stopped answering") {
			t.Errorf("%q, kind %v: a host that answered is said not reached:\n%s", remote, kind, dsn)
		}
		if !strings.Contains(dsn, "Diagnostic-Code: smtp; "+remote) {
			t.Errorf("%q, kind %v: the relay's reply is not quoted as its Diagnostic-Code:\n%s", remote, kind, dsn)
		}
		if kind == NotifyFailure {
			if got := ShownReply(m, 0); !strings.Contains(got, "last reply: "+remote) {
				t.Errorf("ShownReply %q; want the relay's reply quoted", got)
			}
		}
	}
}
