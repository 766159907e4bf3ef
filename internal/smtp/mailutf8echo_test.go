package smtp

import (
	"strings"
	"testing"
)

// SMTP-1 (RFC 6531 §3.7.4): a refused MAIL that said SMTPUTF8 echoes
// the client's UTF-8 as written, as the RCPT replies of such a
// transaction do — the label an internationalised sender domain is
// refused for, never as the text \xNN —, while control, separator and
// bidirectional characters stay escaped, and a MAIL without SMTPUTF8
// echoes none.
func TestSMTP1RefusedUTF8MailEchoesAsRCPTDoes(t *testing.T) {
	s := startServer(t, &fakeQueue{}, connectors(t, anon)...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO client.test", "250")
	got := d.cmd("MAIL FROM:<anna@\u212Aiosk.example.org> SMTPUTF8", "553 5.1.7")
	if !strings.Contains(got, "label \u212Aiosk") || strings.Contains(got, `\x`) {
		t.Errorf("invalid IDN sender in an SMTPUTF8 MAIL: %q", got)
	}
	// A bidirectional override in the label stays escaped.
	got = d.cmd("MAIL FROM:<anna@\u212Aio\u202Esk.example.org> SMTPUTF8", "553 5.1.7")
	if strings.Contains(got, "\u202E") || !strings.Contains(got, `\xE2\x80\xAE`) && !strings.Contains(got, `\xe2\x80\xae`) {
		t.Errorf("bidi override echoed raw: %q", got)
	}
	// Without SMTPUTF8 the reply stays ASCII.
	got = d.cmd("MAIL FROM:<anna@\u212Aiosk.example.org>", "5")
	for i := 0; i < len(got); i++ {
		if c := got[i]; c != '\n' && (c < 0x20 || c > 0x7e) {
			t.Fatalf("MAIL without SMTPUTF8: reply %q holds byte %#x", got, c)
		}
	}
	// The session goes on: a good MAIL after them.
	d.cmd("MAIL FROM:<\u00e9@example.org> SMTPUTF8", "250 2.1.0 Roger, accepting mail from <\u00e9@example.org>")
}

// SMTP-1 (rt31b F3): the label an invalid-IDN refusal names is the label
// as the client wrote it, its ASCII letters' case included — not the
// domain as umbra compares it (lower-cased): "ABCK" with a KELVIN SIGN
// is echoed "ABCK", never "abcK". Without SMTPUTF8 an address with
// non-ASCII is refused for that first, 553 5.6.7, whatever its labels
// (front47 F2: one rule for non-ASCII).
func TestSMTP1InvalidIDNLabelEchoedAsWritten(t *testing.T) {
	s := startServer(t, &fakeQueue{}, connectors(t, anon)...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO client.test", "250")
	if got := d.cmd("MAIL FROM:<anna@ABC\u212A.Example.org> SMTPUTF8", "553 5.1.7"); !strings.Contains(got, "label ABC\u212A:") {
		t.Errorf("sender label not as written: %q", got)
	}
	d.cmd("MAIL FROM:<anna@K\u212Aiosk.example.org>", "553 5.6.7 Non-ASCII address requires SMTPUTF8")
	d.cmd("MAIL FROM:<a@example.org> SMTPUTF8", "250")
	if got := d.cmd("RCPT TO:<anna@ABC\u212A.Example.test>", "553 5.1.3"); !strings.Contains(got, "label ABC\u212A:") {
		t.Errorf("recipient label not as written: %q", got)
	}
	d.cmd("RSET", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<anna@K\u212Aiosk.example.test>", "553 5.6.7 Non-ASCII address requires SMTPUTF8")
}
