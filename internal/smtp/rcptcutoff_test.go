package smtp

import (
	"fmt"
	"testing"
)

// rt21b L6: recipients over max_recipients are no errors (max_errors
// never counts them); a client refused 1,000 of them since its last
// accepted message may still send its message, and one refused more
// than 1,000 gets 421 4.5.3 naming the recipients, not "Too many
// errors", after the 1,001st, and the session ends.
func TestRecipientSurplusCutOff(t *testing.T) {
	s := startWith(t, ServerConfig{Connectors: connectors(t, `
  - name: default
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    limits: {max_recipients: 1, max_errors: 3, soft_error_limit: 100}
`)})
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<r@example.test>", "250")
	for i := 0; i < rcptOvershootLimit; i++ {
		d.cmd(fmt.Sprintf("RCPT TO:<r%d@example.test>", i), "452 4.5.3")
	}
	d.cmd("DATA", "354")
	d.send("Subject: x\r\n\r\nhi\r\n.\r\n")
	d.expect("250 2.0.0")
	// The accepted message started the count afresh.
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<r@example.test>", "250")
	for i := 0; i <= rcptOvershootLimit; i++ {
		d.cmd(fmt.Sprintf("RCPT TO:<s%d@example.test>", i), "452 4.5.3")
	}
	d.expect("421 4.5.3 Too many recipients")
}
