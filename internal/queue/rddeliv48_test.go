package queue

import (
	"strings"
	"testing"
	"time"
)

// Q-3 (rddeliv48): an LMTP server's 503 to the end of the message for a
// recipient (delivery's finalResults) is deferred as out of step at the
// end of the message: its delay notice quotes the server's own reply
// (Diagnostic-Code, Remote-MTA the server) and keeps 4.4.2, as a reply
// out of step at DATA; the hop answered (no failed contact), and the
// deferral is read as one that ended with the message sent.
func TestQ3OutOfStepAtTheEndOfTheMessageQuotesTheServer(t *testing.T) {
	const hop = "mbx-b.example.org[192.0.2.9]:24"
	reply := OutOfStepReply(hop, EndOfMessage, "503 5.5.1 bad sequence of commands")
	if !IsOutOfStep(reply, hop) || !AnsweredOutOfStep(reply, hop) || !OutOfStepAfterBody(reply, hop) {
		t.Errorf("%q: not read as out of step after the message", reply)
	}
	if OutOfStepAfterBody(OutOfStepReply(hop, "DATA", "503 5.5.1 need RCPT"), hop) {
		t.Errorf("a 503 to DATA read as one after the message")
	}
	m := &Message{ID: 7, From: "sender@example.org", Arrived: time.Unix(1e9, 0),
		Rcpts: []Recipient{{Addr: "x@b.test", Queue: "mx:b.test", NextHop: hop, LastReply: reply, Status: Pending}}}
	dsn := string(BuildDSN("mx.test", m, []byte("Subject: s\r\n\r\nbody\r\n"), NotifyDelay, []int{0}, time.Unix(1e9+60, 0), time.Unix(1e9+3600, 0), 8, 0))
	for _, w := range []string{"Status: 4.4.2", "Diagnostic-Code: smtp; 503 5.5.1 bad sequence of commands", "Remote-MTA: dns; mbx-b.example.org\r\n"} {
		if !strings.Contains(dsn, w) {
			t.Errorf("no %q:\n%s", w, dsn)
		}
	}
}
