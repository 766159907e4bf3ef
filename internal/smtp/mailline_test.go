package smtp

import (
	"testing"
)

// The parameters of MAIL are what follows its path (RFC 5321 §4.1.2),
// found once: a quoted local part holding a space and "SIZE=" or
// "XSHADOW=" is part of the address, not a parameter: the address is
// taken (a space in a quoted local part is allowed, rt29b F3), not
// refused as a declared size over the limit (552) nor as a shadow
// parameter outside a shadow session (503).
func TestMailParamsAfterThePathOnly(t *testing.T) {
	q := &fakeQueue{}
	s := startServer(t, q, connectors(t, `
  - name: mx
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    limits: {max_message_size: 3000}
`)...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	for _, from := range []string{`"a SIZE=99999999999"@example.org`, `"a XSHADOW=x"@example.org`, `"a XSHADOWCOPY=db"@example.org`,
		`"a SIZE=10 SIZE=20"@example.org`} {
		if got := d.cmd("MAIL FROM:<"+from+"> SIZE=100", "250"); got != "250 2.1.0 Roger, accepting mail from <"+from+">" {
			t.Errorf("MAIL FROM:<%s>: %q", from, got)
		}
		d.cmd("RSET", "250")
	}
	// The parameters after the path are still read: a size over the
	// limit, a keyword twice, a shadow parameter where none is offered.
	d.cmd(`MAIL FROM:<"a b"@example.org> SIZE=99999999999`, "552 5.3.4")
	d.cmd(`MAIL FROM:<"a b"@example.org> SIZE=10 size=20`, "501 5.5.4")
	// (This connector offers no shadow verbs: XSHADOW= is an unknown
	// parameter here, rt24b F3.)
	d.cmd(`MAIL FROM:<a@example.org> XSHADOW=x`, "555 5.5.4")
	d.cmd(`MAIL FROM:a@example.org SIZE=99999999999`, "552 5.3.4") // a path without brackets, as go-smtp takes it
}

// BenchmarkMailParams: the layer's work on a MAIL line of an ordinary
// submission (size, body type, an envelope id), allocations included.
func BenchmarkMailParams(b *testing.B) {
	s := &session{srv: &Server{}}
	v := &verbConn{sess: func() *session { return s }, maxSize: 10 << 20}
	line := []byte("MAIL FROM:<alice@example.org> SIZE=12345 BODY=8BITMIME ENVID=QQ314159 RET=HDRS\r\n")
	b.ReportAllocs()
	for b.Loop() {
		if _, r := v.mailParams(line); r != "" {
			b.Fatal(r)
		}
	}
}

// A path without angle brackets, which go-smtp takes, has its parameters
// checked as any: a value on a flag, a keyword twice (MAIL and RCPT),
// never left to go-smtp, which would take REQUIRETLS=NO as REQUIRETLS
// and keep the last NOTIFY= of two.
func TestParamsAfterPathWithoutBrackets(t *testing.T) {
	q := &fakeQueue{}
	s := startServer(t, q, connectors(t, `
  - name: mx
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
`)...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:a@example.org REQUIRETLS=NO", "501 5.5.4")
	d.cmd("MAIL FROM:a@example.org BODY=7BIT BODY=8BITMIME", "501 5.5.4")
	d.cmd("MAIL FROM:a@example.org", "250")
	d.cmd("RCPT TO:b@example.test NOTIFY=NEVER NOTIFY=SUCCESS", "501 5.5.4")
	d.cmd("RCPT TO:b@example.test NOTIFY=NEVER", "250")
}

// SMTP-1: the paths are read as common clients write them (README "How
// mail flows"): without angle brackets, with a space after the colon or
// between the verb and FROM:/TO:, each taken as the bracketed address
// and named so in the reply.
func TestSMTP1LenientPathFormsTakenAsTheBracketedAddress(t *testing.T) {
	q := &fakeQueue{}
	s := startServer(t, q, connectors(t, `
  - name: mx
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
`)...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	for _, line := range []string{"MAIL FROM:a@example.org", "MAIL FROM: <a@example.org>", "MAIL  FROM:<a@example.org>"} {
		if got := d.cmd(line, "250"); got != "250 2.1.0 Roger, accepting mail from <a@example.org>" {
			t.Errorf("%s: %q", line, got)
		}
		d.cmd("RSET", "250")
	}
	d.cmd("MAIL FROM:<a@example.org>", "250")
	for line, addr := range map[string]string{"RCPT TO:b@example.test": "b@example.test", "RCPT TO: <c@example.test>": "c@example.test"} {
		if got := d.cmd(line, "250"); got != "250 2.1.5 I'll make sure <"+addr+"> gets this" {
			t.Errorf("%s: %q", line, got)
		}
	}
}
