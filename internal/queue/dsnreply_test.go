package queue

import (
	"strings"
	"testing"
	"time"
)

// A next hop's reply is the network's text: a byte that is not UTF-8 in
// it is written "?" in the DSN (Diagnostic-Code and the human-readable
// part), never U+FFFD, and a control character (an ESC a hostile server
// put there) is written "?" too: neither part carries it raw into the
// sender's mail reader. A valid UTF-8 character stays in the readable
// part (quoted-printable), and in an SMTPUTF8 DSN's Diagnostic-Code.
func TestDSNReplyBytesAndControls(t *testing.T) {
	for _, from := range []string{"s@example.org", "s\xc3\xa9@example.org"} {
		m := Message{ID: 0xABC, From: from, Arrived: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
			Rcpts: []Recipient{{Addr: "evil@example.net", NextHop: "mx.example.net[192.0.2.7]:25", LastReply: "550 5.1.1 evil \xff\xfe \x1b[31mred\x7f r\xc3\xa9ponse"}}}
		global := DSNNeedsSMTPUTF8(&m)
		s := string(BuildDSN("mx.test", &m, []byte("Subject: hi\r\n\r\nx\r\n"), NotifyFailure, []int{0}, m.Arrived, m.Arrived.Add(time.Hour), 0xDEF, 50<<10))
		for _, bad := range []string{"\x1b", "\x7f", "\xef\xbf\xbd", "=EF=BF=BD", "\xff"} {
			if strings.Contains(s, bad) {
				t.Errorf("from %q: the DSN carries %q:\n%q", from, bad, s)
			}
		}
		human := readable(t, s)
		if !strings.Contains(human, "evil ?? ?[31mred? r\u00e9ponse") {
			t.Errorf("from %q: readable part: %q", from, human)
		}
		diag := "; 550 5.1.1 evil ?? ?[31mred? r??ponse\r\n"
		if global {
			diag = "; 550 5.1.1 evil ?? ?[31mred? r\u00e9ponse\r\n"
		}
		if !strings.Contains(s, diag) {
			t.Errorf("from %q: want %q in:\n%s", from, diag, s)
		}
	}
}
