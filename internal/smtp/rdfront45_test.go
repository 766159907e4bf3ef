package smtp

import (
	"fmt"
	"strings"
	"testing"
)

// rdfront45Addr is a free address of the rdfront45 lane.
func rdfront45Addr(t *testing.T) string { return freeAddrIn(t, "127.0.0.196", 48500, 48999) }

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
