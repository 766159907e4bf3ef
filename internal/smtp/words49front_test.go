package smtp

import (
	"testing"
)

// SMTP-3 (words49 item 2): a parameter of an extension umbra does not
// offer (RRVS, RFC 7293; DELIVERBY's BY, RFC 2852; MT-PRIORITY, RFC
// 6710), on MAIL or on RCPT, is refused in umbra's words: 555 5.5.4
// naming the parameter as the command carries it, "not supported" (RFC
// 5321 §4.1.1.11) — never go-smtp's "DELIVERBY is not implemented",
// which names no parameter of the line. An ORCPT of another address
// type whose address is no xtext of printable ASCII is refused as every
// other malformed parameter value is: 501 5.5.4 naming the parameter as
// written and what was expected — never go-smtp's "Malformed ORCPT
// parameter value". Seen to fail first: RCPT … BY=120;R got "555 5.5.4
// DELIVERBY is not implemented", MAIL … BY=120;R "555 5.5.4 MAIL FROM
// parameter BY not recognized", and ORCPT=x-foo;a+zz "501 5.5.4
// Malformed ORCPT parameter value".
func TestSMTP3UnofferedParameterIsUmbrasNotSupported(t *testing.T) {
	s := startServer(t, &fakeQueue{}, connectors(t, anon)...)
	try := func(t *testing.T, mail, line, want string) {
		t.Helper()
		d := dial(t, s, "")
		d.expect("220")
		d.cmd("EHLO c", "250")
		if mail != "" {
			d.cmd(mail, "250")
		}
		d.send(line + "\r\n")
		if got := d.reply(); got != want {
			t.Errorf("%q: %q, want %q", line, got, want)
		}
		if mail != "" {
			d.cmd("RCPT TO:<alice@example.test>", "250") // the transaction stands
		} else {
			d.cmd("MAIL FROM:<a@ext.test>", "250") // nothing was opened
		}
		d.cmd("QUIT", "221")
	}
	for _, c := range []struct{ line, want string }{
		{"MAIL FROM:<a@ext.test> BY=120;R", "555 5.5.4 MAIL FROM parameter BY not supported"},
		{"MAIL FROM:<a@ext.test> MT-PRIORITY=3", "555 5.5.4 MAIL FROM parameter MT-PRIORITY not supported"},
		{"MAIL FROM:<a@ext.test> rrvs=2020-01-01T00:00:00Z", "555 5.5.4 MAIL FROM parameter RRVS not supported"},
		{"MAIL FROM:<a@ext.test> SIZE=10 by=120;R", "555 5.5.4 MAIL FROM parameter BY not supported"},
		{"MAIL FROM:<a@ext.test> BODY=BINARYMIME", "555 5.5.4 MAIL FROM parameter BODY=BINARYMIME not supported"},
	} {
		try(t, "", c.line, c.want)
	}
	for _, c := range []struct{ line, want string }{
		{"RCPT TO:<alice@example.test> BY=120;R", "555 5.5.4 RCPT TO parameter BY not supported"},
		{"RCPT TO:<alice@example.test> mt-priority=3", "555 5.5.4 RCPT TO parameter MT-PRIORITY not supported"},
		{"RCPT TO:<alice@example.test> RRVS=2020-01-01T00:00:00Z", "555 5.5.4 RCPT TO parameter RRVS not supported"},
		{"RCPT TO:<alice@example.test> NOTIFY=NEVER RRVS=2020-01-01T00:00:00Z", "555 5.5.4 RCPT TO parameter RRVS not supported"},
		{"RCPT TO:<alice@example.test> ORCPT=x-foo;a+zz", `501 5.5.4 Syntax error in RCPT TO parameters: ORCPT=x-foo;a+zz: expected an xtext address of printable ASCII after the address type`},
		{"RCPT TO:<alice@example.test> ORCPT=x-foo;", `501 5.5.4 Syntax error in RCPT TO parameters: ORCPT=x-foo;: expected an xtext address of printable ASCII after the address type`},
	} {
		try(t, "MAIL FROM:<a@ext.test>", c.line, c.want)
	}
}
