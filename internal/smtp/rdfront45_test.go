package smtp

import (
	"fmt"
	"strings"
	"testing"
)

// rdfront45Addr is a free address of the rdfront45 lane.
func rdfront45Addr(t *testing.T) string { return freeAddrIn(t, "127.0.0.196", 18500, 18999) }

// TestSMTP1NonKeywordAfterPathBeforeUTF8Check (SMTP-1; rdfront45,
// sibling of front45's HELO fix): in a transaction without SMTPUTF8 a
// second address after the path that holds non-ASCII text was refused
// "non-ASCII text needs SMTPUTF8", telling the client to use an
// extension for what is no parameter at all. The syntax error comes
// first, as after a plain HELO; a keyword's non-ASCII value still needs
// SMTPUTF8.
func TestSMTP1NonKeywordAfterPathBeforeUTF8Check(t *testing.T) {
	s := startServer(t, &fakeQueue{}, connectors(t, fmt.Sprintf(`
  - name: default
    bindings: [%q]
    permissions: {anonymous: [submit]}
`, rdfront45Addr(t)))...)
	d := dialAddr(t, s.Addrs()[0].String())
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@o.test>", "250")
	for _, c := range []struct{ line, want string }{
		{"RCPT TO:<alice@example.test> <jörg@example.test>", "501 5.5.4 Syntax error in RCPT TO parameters: <j\\xc3\\xb6rg@example.test> is no keyword"},
		{"RCPT TO:<alice@example.test>,<jörg@example.test>", "501 5.5.4 Syntax error in RCPT TO parameters: ,<j\\xc3\\xb6rg@example.test> is no keyword"},
		{"RCPT TO:<alice@example.test> ORCPT=utf-8;jörg@example.test", "501 5.5.4 Malformed RCPT TO parameter: non-ASCII text needs SMTPUTF8"},
	} {
		if got := d.cmd(c.line, "5"); !strings.HasPrefix(got, c.want) {
			t.Errorf("%q: %q, want %q", c.line, got, c.want)
		}
	}
	d.cmd("RCPT TO:<alice@example.test>", "250")
	d.cmd("QUIT", "221")
}

// TestSMTP1NonASCIIKeywordLookalikeIsNoKeyword (SMTP-1; rdfront45): a
// name that Unicode upper-cases to a known keyword ("ſize", long s; "NOTıFY",
// dotless i) is no esmtp-keyword either (RFC 5321 §4.1.2: ASCII letters,
// digits, hyphens), and front45 made such text a 501 syntax error — but
// checkParams asked knownParam first by the Unicode-upper-cased key, so
// the line went to go-smtp, which took "ſize=10" as SIZE=10 and
// "NOTıFY=NEVER" as NOTIFY=NEVER: 250 for text the README calls a syntax
// error.
func TestSMTP1NonASCIIKeywordLookalikeIsNoKeyword(t *testing.T) {
	s := startServer(t, &fakeQueue{}, connectors(t, fmt.Sprintf(`
  - name: default
    bindings: [%q]
    permissions: {anonymous: [submit]}
`, rdfront45Addr(t)))...)
	d := dialAddr(t, s.Addrs()[0].String())
	d.expect("220")
	d.cmd("EHLO c", "250")
	if got := d.cmd("MAIL FROM:<a@o.test> \xc5\xbfize=10", "5"); got != `501 5.5.4 Syntax error in MAIL FROM parameters: \xc5\xbfize is no keyword` {
		t.Errorf("ſize=10: %q", got)
	}
	d.cmd("RSET", "250")
	d.cmd("MAIL FROM:<a@o.test> SMTPUTF8", "250")
	if got := d.cmd("RCPT TO:<alice@example.test> NOT\xc4\xb1FY=NEVER", "5"); !strings.HasPrefix(got, "501 5.5.4 Syntax error in RCPT TO parameters: NOT") {
		t.Errorf("NOTıFY=NEVER: %q", got)
	}
	d.cmd("RCPT TO:<alice@example.test> NOTIFY=NEVER", "250")
	d.cmd("QUIT", "221")
}
