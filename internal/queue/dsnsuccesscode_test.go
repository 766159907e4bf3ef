package queue

import (
	"strings"
	"testing"
	"time"
)

// SPEC Q-3 (RFC 3464 §2.3.6): a success DSN quotes the next hop's own
// reply, whatever its 2yz: "251 2.1.5 User not local; will forward"
// stays 251 in the Diagnostic-Code, and its status is the reply's 2.1.5.
func TestSuccessDSNQuotesTheHostsOwnCode(t *testing.T) {
	at := time.Date(2026, 12, 4, 19, 0, 0, 0, time.UTC)
	for _, reply := range []string{"251 2.1.5 User not local; will forward", "299 2.0.0 ok"} {
		m := &Message{ID: 0xABC, From: "s@example.org", Arrived: at,
			Rcpts: []Recipient{{Addr: "x@example.net", Status: Delivered, NextHop: "mx.example.net[192.0.2.1]:25", LastReply: reply}}}
		out := string(BuildDSN("mx.test", m, []byte(body), NotifySuccess, []int{0}, at, at.Add(time.Hour), 0xDEF, 50<<10))
		if !strings.Contains(out, "Diagnostic-Code: smtp; "+reply) {
			t.Errorf("success DSN for %q does not quote it:\n%s", reply, out)
		}
	}
}
