package smtp

import (
	"strings"
	"testing"
)

// The client's HELO name goes into umbra's own Received field (SMTP-1):
// that field must not make an ASCII message 8-bit (a next hop without
// 8BITMIME would refuse it 5.6.3), nor let the name close the comment or
// the clause it stands in. A name that is not ASCII is written as its
// A-label where it is one, as given only in an SMTPUTF8 transaction, and
// otherwise with "?" for each byte that cannot stand there; a character
// that would end the clause is shown as "?" too, not silently dropped.
func TestReceivedHeloNameIsSafe(t *testing.T) {
	for _, tc := range []struct {
		name, helo, mail, want string
	}{
		{"ascii", "client.example", "", "Received: from client.example ([127.0.0.1])"},
		{"u-label, 7-bit message", "x\xc3\xa9.example", "", "Received: from xn--x-bga.example ([127.0.0.1])"},
		{"u-label, SMTPUTF8 message", "x\xc3\xa9.example", " SMTPUTF8", "Received: from x\xc3\xa9.example ([127.0.0.1])"},
		{"invalid utf-8", "a\xffb", "", "Received: from a?b ([127.0.0.1])"},
		{"utf-8 and an invalid byte", "h\xc3\xa9llo\xff.example", "", "Received: from h?llo?.example ([127.0.0.1])"},
		{"clause breakers", "a)(by;evil", "", "Received: from a??by?evil ([127.0.0.1])"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := &fakeQueue{}
			s := startServer(t, q, connectors(t, anon)...)
			d := dial(t, s, "")
			d.expect("220 mx.test")
			d.cmd("EHLO "+tc.helo, "250")
			d.cmd("MAIL FROM:<a@example.org>"+tc.mail, "250 2.0.0")
			d.cmd("RCPT TO:<bob@example.test>", "250 2.0.0")
			d.cmd("DATA", "354")
			d.cmd("Subject: ascii only\r\n\r\nbody\r\n.", "250 2.0.0")
			d.cmd("QUIT", "221")
			if q.count() != 1 {
				t.Fatalf("%d messages submitted", q.count())
			}
			body := string(q.bodies[0])
			if !strings.HasPrefix(body, tc.want) {
				t.Fatalf("trace field:\n%q\nwant prefix %q", body[:min(len(body), 120)], tc.want)
			}
			if tc.mail == "" {
				for i := 0; i < len(body); i++ {
					if body[i] > 0x7e {
						t.Fatalf("byte %#x at %d in a 7-bit message:\n%q", body[i], i, body)
					}
				}
			}
		})
	}
}
