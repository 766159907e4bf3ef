package smtp

import (
	"strings"
	"testing"
)

// The Received field's "from" is always a valid domain or an address
// literal (rt17b-F3): a bare IPv4 greeting, taken for interoperability,
// is written as the address literal it stands for; an A-label IDNA
// refuses is refused at EHLO as RCPT refuses it; a missing argument is
// a syntax error (501 5.5.2).
func TestGreetingNameInReceived(t *testing.T) {
	for _, c := range []struct{ helo, from string }{
		{"1.2.3.4", "[1.2.3.4]"},
		{"client.example", "client.example"},
		{"xn--bcher-kva.example", "xn--bcher-kva.example"},
		{"[192.0.2.1]", "[192.0.2.1]"},
	} {
		q := &fakeQueue{}
		s := startServer(t, q, connectors(t, anon)...)
		d := dial(t, s, "")
		d.expect("220")
		d.cmd("EHLO "+c.helo, "250")
		d.cmd("MAIL FROM:<a@example.org>", "250")
		d.cmd("RCPT TO:<b@example.test>", "250")
		d.cmd("DATA", "354")
		d.cmd("Subject: x\r\n\r\nhi\r\n.", "250")
		d.cmd("QUIT", "221")
		if body := string(q.bodies[0]); !strings.HasPrefix(body, "Received: from "+c.from+" ([127.0.0.1])") {
			t.Errorf("EHLO %s: trace header:\n%s", c.helo, body)
		}
	}
	s := startServer(t, &fakeQueue{}, connectors(t, anon)...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO", "501 5.5.2")
	d.cmd("HELO", "501 5.5.2")
	d.cmd("EHLO xn--zz.test", "501 5.5.4 Invalid EHLO argument: not a valid internationalised name")
	d.cmd("HELO a.XN--ZZ.test", "501 5.5.4 Invalid HELO argument: not a valid internationalised name")
	d.cmd("MAIL FROM:<a@example.org>", "503 5.5.1") // no greeting was taken
	d.cmd("EHLO client.example", "250")
}
