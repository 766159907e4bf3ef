package queue

import (
	"strings"
	"testing"
	"time"
)

// rt28d F3: a message sent whole to a next hop that gave no reply to its
// end (a timeout, or the connection closed after the final dot) may be
// there already (RFC 1047): the delay and the failure DSN tell the
// sender so; a refusal or a connection lost before the dot does not.
//
func TestDSNSaysTheHostMayHaveIt(t *testing.T) {
	const mx = "mx.example.net[192.0.2.7]:25"
	timedOut := "451 4.4.2 " + mx + ": timed out after 30s waiting for the reply to the end of the message"
	for _, c := range []struct {
		name, reply string
		kind        Notify
		want        bool
	}{
		{"timed out, delay", timedOut, NotifyDelay, true},
		{"timed out, then expired", expiredReply("550 5.4.7", 5*24*time.Hour, timedOut), NotifyFailure, true},
		{"closed after the dot", "451 4.4.2 " + mx + ": connection lost during DATA: reply to the end of the message: EOF", NotifyDelay, true},
		{"lost before the dot", "451 4.4.2 " + mx + ": connection lost during DATA: write tcp: broken pipe", NotifyDelay, false},
		{"unreadable reply", "451 4.4.2 " + mx + ": unreadable reply to the end of the message: malformed reply \"2x0\"", NotifyDelay, true},
		{"unreadable reply, then expired", expiredReply("550 5.4.7", 5*24*time.Hour, "451 4.4.2 "+mx+": unreadable reply to the end of the message: stray reply 354"), NotifyFailure, true},
		{"refused", "550 5.1.1 no such user", NotifyFailure, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := &Message{ID: 7, From: "sender@example.org", Arrived: time.Unix(1e9, 0),
				Rcpts: []Recipient{{Addr: "x@example.net", Queue: "mx:example.net", NextHop: mx, LastReply: c.reply, Status: Failed}}}
			dsn := string(BuildDSN("mx.test", m, []byte("Subject: s\r\n\r\nbody\r\n"), c.kind, []int{0}, time.Unix(1e9+60, 0), time.Unix(1e9+3600, 0), 8, 0))
			human, _, _ := strings.Cut(dsn, "Content-Type: message/delivery-status")
			if got := strings.Contains(strings.Join(strings.Fields(human), " "), "may already have the message"); got != c.want {
				t.Fatalf("says the next hop may have it: %v, want %v:\n%s", got, c.want, human)
			}
		})
	}
}
