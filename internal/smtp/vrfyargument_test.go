package smtp

import (
	"testing"
)

// VRFY takes a string (RFC 5321 §4.1.1.6: "VRFY" SP String CRLF): one
// without is a syntax error, 501 5.5.4, not the 252 a VRFY of an address
// gets. The commands whose argument is optional take none as well as
// one: NOOP (§4.1.1.9, ignored: 250) and HELP (§4.1.1.8; not offered:
// 502 5.5.1, with or without); EXPN (§4.1.1.7) is not offered, 502 5.5.1
// whatever its argument — the command, not its syntax, is what is
// refused (SMTP-1).
func TestSMTP1VRFYWithoutArgumentIsSyntaxError(t *testing.T) {
	s := startServer(t, &fakeQueue{}, connectors(t, `
  - name: default
    bindings: ["127.0.0.121:0"]
    permissions: {anonymous: [submit]}
    limits: {max_junk_commands: 100, max_errors: 100, soft_error_limit: 100}
`)...)
	d := dial(t, s, "127.0.0.121")
	d.expect("220")
	check := func(line, want string) {
		t.Helper()
		d.send(line + "\r\n")
		if got := d.reply(); got != want {
			t.Errorf("%q: %q, want %q", line, got, want)
		}
	}
	for _, phase := range []string{"before EHLO", "after EHLO", "in a transaction"} {
		switch phase {
		case "after EHLO":
			d.cmd("EHLO c", "250")
		case "in a transaction":
			d.cmd("MAIL FROM:<a@example.org>", "250")
			d.cmd("RCPT TO:<b@example.test>", "250")
		}
		t.Logf("%s", phase)
		check("VRFY", "501 5.5.4 Syntax: VRFY <user name or mailbox>")
		check("VRFY ", "501 5.5.4 Syntax: VRFY <user name or mailbox>")
		check("vrfy \t", "501 5.5.4 Syntax: VRFY <user name or mailbox>")
		check("VRFY b@example.test", replyVRFY)
		check("VRFY b", replyVRFY)
		check("EXPN", "502 5.5.1 EXPN command not implemented")
		check("EXPN list", "502 5.5.1 EXPN command not implemented")
		check("HELP", "502 5.5.1 HELP command not implemented")
		check("HELP MAIL", "502 5.5.1 HELP command not implemented")
		check("NOOP", "250 2.0.0 I have successfully done nothing")
		check("NOOP anything at all", "250 2.0.0 I have successfully done nothing")
	}
	// The transaction is still open: none of them touched it.
	d.cmd("DATA", "354")
	d.cmd("Subject: x\r\n\r\nhi\r\n.", "250 2.0.0")
}
