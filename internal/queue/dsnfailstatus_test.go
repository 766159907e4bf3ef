package queue

import (
	"strings"
	"testing"
	"time"
)

// SPEC Q-3 (RFC 3464 §2.3.4, RFC 3463 X.4.7): a failure DSN of a
// recipient whose last reply was a 4xx gives that reply's own enhanced
// status code, and 4.4.7 (delivery time expired) when the reply has
// none — a 4xx fails only when its retries ran out — never 4.0.0,
// which tells the sender nothing.
func TestFailureDSNStatusOfA4xxReply(t *testing.T) {
	at := time.Date(2026, 12, 5, 1, 0, 0, 0, time.UTC)
	for _, c := range []struct{ reply, status string }{
		{"451 4.3.0 mailbox busy", "4.3.0"},
		{"451 try again later", "4.4.7"},
		{"421 closing", "4.4.7"},
		{"550 no such user", "5.0.0"},
	} {
		m := &Message{ID: 0x661A3EABA2EA1, From: "sender@ext.test", Arrived: at, Rcpts: []Recipient{{Addr: "a@ext.net",
			Queue: "mx:ext.net", NextHop: "mx.ext.net[192.0.2.1]:25", Status: Failed, LastReply: c.reply}}}
		dsn := string(BuildDSNBody("mx.test", m, MemBody([]byte("Subject: x\r\n\r\nbody\r\n")), NotifyFailure, []int{0}, at, at, 0xDEF, 0, Inside{}))
		if !strings.Contains(dsn, "Status: "+c.status+"\r\n") {
			t.Errorf("last reply %q: want Status: %s:\n%s", c.reply, c.status, dsn)
		}
	}
}
