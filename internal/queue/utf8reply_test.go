package queue

import (
	"strings"
	"testing"
	"time"
)

// TestDSNStatesTheSMTPUTF8RefusalAsLogged (SMTP-1, RFC 6531 §3.2;
// rt29b F1): the refusal of a next hop that does not offer SMTPUTF8 is
// umbra's own decision and names no host: a DSN to a sender outside the
// organisation quotes it whole — the text the logs and queue show give —
// not a reason of its status that says something else — in the text
// part, as umbra's own words: no Diagnostic-Code, which quotes only a
// remote server's reply (SPEC Q-3).
func TestDSNStatesTheSMTPUTF8RefusalAsLogged(t *testing.T) {
	at := time.Date(2026, 12, 5, 1, 0, 0, 0, time.UTC)
	in := Inside{Domains: []string{"corp.test"}, Connectors: []string{"to-hub"}}
	for _, reply := range []string{ReplyRcptNeedsSMTPUTF8, ReplySenderNeedsSMTPUTF8, ReplyHeadersNeedSMTPUTF8} {
		m := &Message{ID: 0x661A3EABA2EA1, From: "x@example.org", UTF8: true, Arrived: at, Rcpts: []Recipient{{Addr: "idn@bücher.test",
			Queue: "smarthost:to-hub", NextHop: "hub.corp.test[10.0.0.2]:25", Status: Failed, LastReply: reply}}}
		dsn := string(BuildDSNBody("mx.test", m, MemBody([]byte("Subject: x\r\n\r\nbody\r\n")), NotifyFailure, []int{0}, at, at, 0xDEF, 0, in))
		if !strings.Contains(strings.ReplaceAll(dsnTextPart(dsn), "=\r\n", ""), ": "+reply+"\r\n") || strings.Contains(dsn, "Diagnostic-Code:") {
			t.Errorf("DSN does not state %q as umbra's own:\n%s", reply, dsn)
		}
		if strings.Contains(dsn, "10.0.0.2") {
			t.Errorf("DSN names the organisation's host:\n%s", dsn)
		}
	}
}
