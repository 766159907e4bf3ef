package smtp

import (
	"fmt"
	"strings"
	"testing"
)

// rt33b F6 (SMTP-5, SMTP-1): a NUL in a command line is a syntax error of
// the line, refused whole as a bare CR or LF is (500 5.5.2), before any
// command reads it: never a MAIL parameter "not recognized" (555), an
// address, a greeting name or an AUTH response; nothing in the line
// runs, and the session goes on.
func TestSMTP5NULInCommandLineRefusedWhole(t *testing.T) {
	q := &fakeQueue{}
	s := startServer(t, q, connectors(t, `
  - name: default
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    limits: {max_errors: 100, soft_error_limit: 100, error_delay: 1ms}
`)...)
	d := dial(t, s, "")
	d.expect("220")
	for _, line := range []string{
		"EHLO c\x00x",
		"HELO c\x00",
		"\x00EHLO c",
	} {
		d.send(line + "\r\n")
		if got := d.reply(); !strings.HasPrefix(got, "500 5.5.2") || !strings.Contains(got, "NUL") {
			t.Errorf("%q before a greeting: %q; want 500 5.5.2 naming the NUL", line, got)
		}
	}
	d.cmd("EHLO c", "250")
	for _, line := range []string{
		"MAIL FROM:<a@b.test>\x00 SIZE=10",
		"MAIL FROM:<a@b\x00.test>",
		"MAIL FROM:<a@b.test> BODY=8BITMIME\x00",
	} {
		d.send(line + "\r\n")
		if got := d.reply(); !strings.HasPrefix(got, "500 5.5.2") || !strings.Contains(got, "NUL") {
			t.Errorf("%q: %q; want 500 5.5.2 naming the NUL", line, got)
		}
	}
	d.cmd("RCPT TO:<b@example.test>", "503") // no MAIL ran
	d.cmd("MAIL FROM:<a@b.test>", "250")
	for _, line := range []string{
		"RCPT TO:<b@example.test>\x00",
		"RCPT TO:<b\x00@example.test>",
		"RCPT TO:<b@example.test> NOTIFY=NEVER\x00",
		"NOOP \x00",
		"RSET\x00",
		"VRFY b\x00",
		"HELP\x00",
		"DATA\x00",
		"BDAT 3 LAST\x00",
		"AUTH PLAIN AGEAYg==\x00",
		"XSHADOW a\x00",
		"XQUERYDISCARD 1\x00",
		"STARTTLS\x00",
		"QUIT\x00",
	} {
		d.send(line + "\r\n")
		if got := d.reply(); !strings.HasPrefix(got, "500 5.5.2") || !strings.Contains(got, "NUL") {
			t.Errorf("%q: %q; want 500 5.5.2 naming the NUL", line, got)
		}
	}
	// The transaction stands (RSET\x00 reset nothing) and takes no
	// recipient a refused line named.
	d.cmd("RCPT TO:<b@example.test>", "250")
	d.cmd("DATA", "354")
	d.send("Subject: t\r\n\r\nx\r\n.\r\n")
	d.expect("250")
	if q.count() != 1 {
		t.Fatalf("%d messages queued, want 1", q.count())
	}
	d.cmd("QUIT", "221")
}

// rt33b F6: an AUTH line with a NUL is refused whole (500 5.5.2) before
// its mechanism is read, and a SASL response with one is malformed
// (501 5.5.2, the exchange cancelled): neither lets anybody in, and the
// next line is a command again.
func TestSMTP5NULInAuthLineAndResponse(t *testing.T) {
	s := startServer(t, &fakeQueue{}, connectors(t, fmt.Sprintf(authConnector, credsFile(t)))...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==\x00", "500 5.5.2")
	d.cmd("AUTH PLAIN", "334")
	d.cmd("AGFsaWNlAHNlY3JldA==\x00", "501 5.5.2")
	d.cmd("AUTH LOGIN", "334")
	d.cmd(loginUserB64+"\x00", "501 5.5.2")
	d.try("NOOP", "250")
	d.try(plainAlice, "235 2.0.0")
}
