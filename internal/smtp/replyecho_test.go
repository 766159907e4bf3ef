package smtp

import (
	"strings"
	"testing"
)

// rt41 F2: a reply that echoes what the client wrote (the MAIL and RCPT
// paths; an EHLO/HELO name is a domain or an address literal) shows it in printable ASCII, unambiguously: a
// byte outside printable ASCII as \xNN, and a backslash run that would
// read as such an escape doubled, so the byte 0xe9 and the text \xe9 a
// client sent are told apart (the one escape rule of the logs and CLI).
func TestEchoedClientTextIsUnambiguous(t *testing.T) {
	s := startServer(t, &fakeQueue{}, connectors(t, anon)...)
	d := dial(t, s, "")
	d.expect("220")
	// A greeting name holding such bytes is no name: refused, unechoed
	// (helosyntax.go).
	for _, c := range []string{"EHLO x\xe9", `EHLO x\xe9`, "EHLO x\\\xe9", `EHLO x\y\`, `HELO y\x7f`, "HELO y\x7f"} {
		if got := d.cmd(c, "501 5.5.4 Invalid "); strings.Contains(got, `\`) {
			t.Errorf("%q: the refusal echoes the name: %q", c, got)
		}
	}
	d.cmd("EHLO client.test", "250")
	// rt29b F2: in a transaction whose MAIL said SMTPUTF8 a reply may
	// carry UTF-8 (RFC 6531 §3.7.4): the address is echoed as written,
	// never as the text \xNN.
	for _, tc := range []struct{ send, want string }{
		{"MAIL FROM:<\xc3\xa9@example.org> SMTPUTF8", "250 2.1.0 Roger, accepting mail from <\xc3\xa9@example.org>"},
		{"RCPT TO:<b\xc3\xbccher@example.test>", "250 2.1.5 I'll make sure <b\xc3\xbccher@example.test> gets this"},
	} {
		if got := d.cmd(tc.send, "250"); got != tc.want {
			t.Errorf("%q: reply %q, want %q", tc.send, got, tc.want)
		}
	}
	// So does umbra's own refusal that names the client's text there:
	// the label an internationalised domain is refused for.
	if got := d.cmd("RCPT TO:<anna@\u212Aiosk.example.test>", "553 5.1.3"); !strings.Contains(got, "label \u212Aiosk") || strings.Contains(got, `\x`) {
		t.Errorf("invalid IDN in an SMTPUTF8 transaction: %q", got)
	}
	// umbra's own replies that name client text name it the same way.
	d.cmd("RSET", "250")
	// A name go-smtp would key as a known one (strings.ToUpper:
	// "\u017fize" is SIZE) is no esmtp-keyword: a syntax error (not
	// "given more than once"), named as the client wrote it, escaped.
	if got := d.cmd("MAIL FROM:<a@example.org> SIZE=1 \xc5\xbfize=2", "501"); got != `501 5.5.4 Syntax error in MAIL FROM parameters: \xc5\xbfize is no keyword` {
		t.Errorf("a keyword look-alike after SIZE: %q", got)
	}
	// Text after the path that is no parameter keyword (its backslash)
	// is a syntax error, named as the client wrote it, the same way.
	if got := d.cmd(`MAIL FROM:<a@example.org> X\xe9=1 x\xe9=2`, "501"); got != `501 5.5.4 Syntax error in MAIL FROM parameters: X\\xe9 is no keyword` {
		t.Errorf("no keyword after the path: %q", got)
	}
	// A reply never carries a raw byte outside printable ASCII.
	for _, line := range []string{"NOOP \xff", "VRFY \xe9\x1b", "XSHADOW \xe9", "AUTH \xe9", "MAIL FROM:<\xff@x>", "FOO\xe9 bar"} {
		d.send(line + "\r\n")
		got := d.reply()
		for i := 0; i < len(got); i++ {
			if c := got[i]; c != '\n' && (c < 0x20 || c > 0x7e) {
				t.Errorf("%q: reply %q holds byte %#x", line, got, c)
				break
			}
		}
	}
}
