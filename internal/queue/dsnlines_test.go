package queue

import (
	"strings"
	"testing"
	"time"
)

// SMTP-7, README "DSNs are 7-bit" (rt21d L6): no line of a DSN is
// longer than 998 octets, whatever lines the original had (the receive
// connector takes up to max_line_length, 2000): a long header field is
// folded at white space, one with none where it could fold is cut, with
// a note; a RET=FULL message with a long line comes back as its headers.
func TestDSNLinesAtMost998(t *testing.T) {
	longID := "<" + strings.Repeat("b", 1513) + "@rt21d.test>"
	longSubject := strings.TrimSpace(strings.Repeat("word ", 400))
	h := "From: a@example.org\r\nMessage-ID: " + longID + "\r\nSubject: " + longSubject + "\r\n" +
		"X-Folded: first\r\n " + strings.Repeat("c", 1200) + "\r\nTo: b@example.net\r\n\r\n"
	for _, c := range []struct {
		name    string
		body    string
		retFull bool
		notes   []string
	}{
		{"headers", h + "short body\r\n", false, []string{"Message-ID, X-Folded"}},
		{"full with a long body line", h + strings.Repeat("x", 1500) + "\r\n", true, []string{"longer than 998", "Message-ID, X-Folded"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := &Message{ID: 1, From: "a@example.org", Arrived: time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC), RetFull: c.retFull,
				Rcpts: []Recipient{{Addr: "bad@example.net", LastReply: "550 5.1.1 no such user", Status: Failed}}}
			out := string(BuildDSN("mx.test", m, []byte(c.body), NotifyFailure, []int{0}, m.Arrived, m.Arrived, 0xDEF, 50<<10))
			for i, l := range strings.Split(out, "\r\n") {
				if len(l) > 998 {
					t.Errorf("line %d has %d octets: %.60s…", i+1, len(l), l)
				}
			}
			if !strings.Contains(out, "Content-Type: text/rfc822-headers") || strings.Contains(out, strings.Repeat("x", 100)) {
				t.Errorf("a long line's message returned whole:\n%.400s", out)
			}
			if strings.Count(out, "word") != 400 || !strings.Contains(out, "To: b@example.net") {
				t.Errorf("the foldable Subject was not kept whole, or a field after the long ones is missing")
			}
			for _, n := range c.notes {
				if !strings.Contains(out, n) {
					t.Errorf("no note %q:\n%.1500s", n, out)
				}
			}
		})
	}
}

// The report's own fields are held to the limit too: a next hop's long
// reply (a multi-line reply is kept on one line) in Diagnostic-Code and
// in the human-readable part.
func TestDSNLongReplyLinesAtMost998(t *testing.T) {
	reply := "550 5.1.1 " + strings.Repeat("r", 480) + " " + strings.Repeat("s", 480) + " " + strings.Repeat("t", 480)
	m := &Message{ID: 1, From: "a@example.org", Arrived: time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC),
		Rcpts: []Recipient{{Addr: "bad@example.net", LastReply: reply, Status: Failed, NextHop: "mx.example.net[192.0.2.1]:25"}}}
	out := string(BuildDSN("mx.test", m, []byte("Subject: s\r\n\r\nb\r\n"), NotifyFailure, []int{0}, m.Arrived, m.Arrived, 0xDEF, 50<<10))
	for i, l := range strings.Split(out, "\r\n") {
		if len(l) > 998 {
			t.Errorf("line %d has %d octets: %.60s…", i+1, len(l), l)
		}
	}
	if !strings.Contains(strings.NewReplacer("\r\n ", "", "\r\n\t", "").Replace(out), strings.Repeat("t", 480)) {
		t.Errorf("the reply is not in the report whole:\n%s", out)
	}
}
