package smtp

import "testing"

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
