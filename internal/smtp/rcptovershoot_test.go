package smtp

import (
	"fmt"
	"testing"
)

// rt20c F2: a client that names more recipients than max_recipients
// gets 452 4.5.3 for the surplus and sends it in a later transaction
// (RFC 5321 §4.5.3.1.8); those replies are not its errors. Counted as
// errors, 21 of them cut the client off with 421 before its DATA and the
// accepted recipients' message was never sent. A surplus far beyond any
// client's (rcptOvershootLimit) ends the session (TestRecipientSurplusCutOff).
func TestRecipientSurplusIsNoError(t *testing.T) {
	s := startWith(t, ServerConfig{Connectors: connectors(t, `
  - name: default
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    limits: {max_recipients: 5, max_errors: 3, soft_error_limit: 100}
`)})
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	for round := 0; round < 2; round++ {
		d.cmd("MAIL FROM:<a@example.org>", "250")
		for i := 0; i < 30; i++ {
			want := "250"
			if i >= 5 {
				want = "452 4.5.3"
			}
			d.cmd(fmt.Sprintf("RCPT TO:<r%d@example.test>", i), want)
		}
		d.cmd("DATA", "354")
		d.send("Subject: x\r\n\r\nhi\r\n.\r\n")
		d.expect("250 2.0.0")
	}
	// Errors still count: the limit is reached by real ones.
	for i := 0; i < 2; i++ {
		d.cmd("BOGUS", "500")
	}
	d.send("BOGUS\r\nNOOP\r\n")
	d.expect("500")
	d.expect("421 4.7.0 Too many errors") // judged at the next command
}
