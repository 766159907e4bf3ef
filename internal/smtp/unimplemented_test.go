package smtp

import (
	"strings"
	"testing"
)

// A command umbra knows of but does not implement is answered 502 5.5.1
// "command not implemented", whoever of the layer and go-smtp would see
// it; a command it does not know is 500 5.5.1 (RFC 5321 §4.2.4: 500 for
// an unrecognized command, 502 for one not implemented). ETRN (RFC 1985),
// ATRN (RFC 2645) and BURL (RFC 4468) are known extensions umbra does not
// offer, like EXPN, HELP, TURN, SEND, SOML and SAML (RFC 821). The
// session goes on after each, and the reply is the same before and after
// EHLO and with arguments.
func TestKnownUnimplementedCommandsAre502(t *testing.T) {
	s := startServer(t, &fakeQueue{}, connectors(t, `
  - name: default
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    limits: {max_errors: 100, soft_error_limit: 100, max_junk_commands: 100}
`)...)
	d := dial(t, s, "")
	d.expect("220")
	known := []string{"ETRN", "ETRN example.org", "ETRN @example.org", "ATRN example.org", "BURL imap://x LAST", "TURN",
		"SEND FROM:<a@b>", "SOML FROM:<a@b>", "SAML FROM:<a@b>", "EXPN staff", "HELP", "HELP MAIL", "etrn example.org"}
	for _, c := range known[:3] { // before EHLO too
		d.cmd(c, "502 5.5.1")
	}
	d.cmd("EHLO c", "250")
	for _, c := range known {
		got := d.cmd(c, "502 5.5.1")
		verb := strings.ToUpper(strings.Fields(c)[0])
		if !strings.Contains(got, verb+" command not implemented") {
			t.Errorf("%s: %q, want the one wording %q", c, got, "502 5.5.1 "+verb+" command not implemented")
		}
	}
	for _, c := range []string{"BOGUS", "XCLIENT ADDR=1.2.3.4", "VERB", "XFORWARD NAME=x", "ETRNX example.org"} {
		d.cmd(c, "500 5.5.")
	}
	d.cmd("NOOP", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("ETRN example.org", "502 5.5.1") // within a transaction too
	d.cmd("RCPT TO:<b@example.test>", "250")
}
