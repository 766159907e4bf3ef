package smtp

import (
	"fmt"
	"testing"
)

// An answer to a 334 with a bare CR or LF in it follows the one line
// rule of every command (SMTP-5, one framing authority): the line is
// refused whole with 500 5.5.2, and the AUTH exchange ends with it, so
// the client's next line is a command again (not a SASL response) and
// nothing after the bare newline was taken as a response either.
func TestSASLResponseBareNewline(t *testing.T) {
	s := startServer(t, &fakeQueue{}, connectors(t, fmt.Sprintf(authConnector, credsFile(t)))...)
	for _, tc := range []struct{ name, start, line string }{
		{"LOGIN bare LF", "AUTH LOGIN", "YWxpY2U=\nRSET\r\n"},
		{"LOGIN bare CR", "AUTH LOGIN", "YWxpY2U=\rRSET\r\n"},
		{"PLAIN bare LF", "AUTH PLAIN", "AGFsaWNlAHNlY3JldA==\nAGFsaWNlAHNlY3JldA==\r\n"},
		{"PLAIN bare CR", "AUTH PLAIN", "AGFsaWNlAHNlY3JldA==\rAGFsaWNlAHNlY3JldA==\r\n"},
		{"LOGIN password bare LF", "AUTH LOGIN", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := dial(t, s, "")
			d.expect("220")
			d.cmd("EHLO c", "250")
			d.cmd(tc.start, "334")
			if tc.line == "" {
				d.cmd(loginUserB64, "334")
				tc.line = loginPassB64 + "\nNOOP\r\n"
			}
			d.send(tc.line)
			d.expect("500 5.5.2")
			d.try("NOOP", "250")                      // a command again, not a response
			d.try(plainAlice, "235 2.0.0")            // the refused line let nobody in
			d.try("MAIL FROM:<a@sender.test>", "250") // and the replies stay in step
		})
	}
}

// BDAT and AUTH do not share bytes (SMTP-5): a BDAT line that answers a
// 334 is a (bad) SASL response, never a chunk's start, so the bytes after
// it are commands; and an AUTH inside a BDAT chunk is chunk data, never
// a command.
func TestBDATAroundAUTH(t *testing.T) {
	q := &fakeQueue{}
	s := startServer(t, q, connectors(t, fmt.Sprintf(authConnector, credsFile(t)))...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("AUTH LOGIN", "334")
	d.send("BDAT 6 LAST\r\nNOOP\r\n")
	d.expect("501 5.5.2") // the response, cancelled
	d.expect("250")       // NOOP: a command, not chunk data
	d.cmd("MAIL FROM:<a@sender.test>", "250")
	d.cmd("RCPT TO:<u@example.test>", "250")
	chunk := plainAlice + "\r\n"
	d.send(fmt.Sprintf("BDAT %d\r\n%s", len(chunk), chunk))
	d.expect("250")
	d.cmd("BDAT 0 LAST", "250")
	d.cmd(plainAlice, "235") // not authenticated before: the chunk's AUTH was data
}
