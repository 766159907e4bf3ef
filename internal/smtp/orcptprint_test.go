package smtp

import (
	"strings"
	"testing"
)

// A utf-8 ORCPT (RFC 6533) is an address: a character that is not
// printable in it — DEL, a C1 control, a bidirectional override, a
// zero-width character — is refused as the C0 controls are, never
// carried into the record, the DSN and the next hop's RCPT (rt28).
func TestUTF8OrcptRefusesUnprintable(t *testing.T) {
	conns := connectors(t, `
  - name: internet
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
`)
	q := &fakeQueue{}
	s := startServer(t, q, conns...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	for _, v := range []string{`a\x{1B}b@example.test`, `a\x{7F}b@example.test`, `a\x{85}b@example.test`,
		`a\x{202E}b@example.test`, `a\x{200B}b@example.test`, "a\u202eb@example.test"} {
		d.cmd("RCPT TO:<b@example.test> ORCPT=utf-8;"+v, "501 5.5.4")
	}
	d.cmd(`RCPT TO:<b@example.test> ORCPT=utf-8;p\x{E9}l\x{E9}@example.test`, "250")
}

// RFC 3461 §4.2: the original recipient, before xtext encoding, is at
// most 500 characters (the DSN's Original-Recipient field is built from
// it). One longer is refused 501 5.5.4; 500 is taken, in rfc822 (xtext,
// a "+2B" is one character) and utf-8 (a multi-byte character is one).
func TestOrcptLengthCap(t *testing.T) {
	q := &fakeQueue{}
	s := startServer(t, q, connectors(t, `
  - name: internet
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
`)...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	local := func(n int) string { return strings.Repeat("x", n-len("@example.test")) + "@example.test" }
	d.cmd("RCPT TO:<b@example.test> ORCPT=rfc822;"+local(501), "501 5.5.4")
	d.cmd("RCPT TO:<b@example.test> ORCPT=rfc822;+2B"+local(500), "501 5.5.4")
	d.cmd("RCPT TO:<b@example.test> ORCPT=rfc822;"+local(500), "250")
	d.cmd("RCPT TO:<c@example.test> ORCPT=rfc822;+2B"+local(499), "250")
	d.cmd(`RCPT TO:<d@example.test> ORCPT=utf-8;\x{E9}`+local(499), "250")
	d.cmd("DATA", "354")
	d.cmd("Subject: x\r\n\r\nhi\r\n.", "250")
	if r := q.msgs[0].Rcpts; len(r) != 3 || len(r[0].ORcpt) != len("RFC822;")+500 {
		t.Fatalf("recipients %+v", r)
	}
}

// RFC 3461 §4.2: ORCPT's addr-type is an atom; a type umbra does not
// know (x-foo, x400) is taken and kept as given, its xtext decoded, for
// the DSN and a DSN-capable next hop (rt17b-F5); its value is checked
// as an rfc822 one's (xtext, printable, at most 500 characters).
func TestOrcptOtherAddressType(t *testing.T) {
	q := &fakeQueue{}
	s := startServer(t, q, connectors(t, `
  - name: internet
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
`)...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test> ORCPT=x-foo;bar", "250")
	d.cmd("RCPT TO:<c@example.test> NOTIFY=FAILURE ORCPT=X400;c+3Dus+3Ba+3D+20", "250")
	d.cmd("RCPT TO:<d@example.test> ORCPT=x-foo;a+ZZ", "501 5.5.4")
	d.cmd("RCPT TO:<d@example.test> ORCPT=x-foo;", "501 5.5.4")
	d.cmd("RCPT TO:<d@example.test> ORCPT=x-foo;+07", "501 5.5.4")
	d.cmd("RCPT TO:<d@example.test> ORCPT=x-foo;"+strings.Repeat("x", 501), "501 5.5.4")
	d.cmd("RCPT TO:<e@example.test>", "250") // no ORCPT left over from a refused line
	d.cmd("DATA", "354")
	d.cmd("Subject: x\r\n\r\nhi\r\n.", "250")
	r := q.msgs[0].Rcpts
	if len(r) != 3 || r[0].ORcpt != "x-foo;bar" || r[1].ORcpt != "X400;c=us;a= " || r[1].Notify == 0 || r[2].ORcpt != "" {
		t.Fatalf("recipients %+v", r)
	}
}

// takeForeignOrcpt takes the parameter off the line read once (as the
// layer's RCPT step does) and leaves the rest as the client wrote it.
func TestForeignOrcptLine(t *testing.T) {
	for _, c := range []struct{ line, out, orcpt string }{
		{"RCPT TO:<b@x.test> ORCPT=x-foo;bar\r\n", "RCPT TO:<b@x.test>\r\n", "x-foo;bar"},
		{"RCPT TO:<b@x.test> ORCPT=x-foo;b+2Br NOTIFY=NEVER\r\n", "RCPT TO:<b@x.test> NOTIFY=NEVER\r\n", "x-foo;b+r"},
		{"RCPT TO:<b@x.test> NOTIFY=NEVER orcpt=X400;a\r\n", "RCPT TO:<b@x.test> NOTIFY=NEVER\r\n", "X400;a"},
		{"RCPT TO:<b@x.test> ORCPT=rfc822;a@b\r\n", "RCPT TO:<b@x.test> ORCPT=rfc822;a@b\r\n", ""},
		{"RCPT TO:<b@x.test>\r\n", "RCPT TO:<b@x.test>\r\n", ""},
	} {
		ml := parseMailLine([]byte(c.line))
		orcpt, reply := takeForeignOrcpt(&ml)
		out := ml.bytes()
		if string(out) != c.out || orcpt != c.orcpt || reply != "" {
			t.Errorf("%q: %q, %q, %q; want %q, %q", c.line, out, orcpt, reply, c.out, c.orcpt)
		}
	}
}
