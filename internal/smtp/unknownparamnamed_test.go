package smtp

import (
	"strings"
	"testing"
)

// SMTP-1 (README, How mail flows: "an unknown MAIL or RCPT parameter
// 555 5.5.4 … the first unknown keyword in the line's order is named"):
// the refusal names the keyword — the first unknown one in the line's
// order, ASCII letters upper-cased, in printable ASCII (\xNN, the echo
// rule of replyecho.go) and bounded — so a client, or an operator
// reading its log, sees which parameter the server does not know
// (rt42-front F3).
func TestSMTP1UnknownParameterIsNamed(t *testing.T) {
	s := startServer(t, &fakeQueue{}, connectors(t, `
  - name: default
    bindings: ["127.0.0.134:0"]
    permissions: {anonymous: [submit]}
`)...)
	d := dial(t, s, "127.0.0.134")
	d.expect("220")
	d.cmd("EHLO c", "250")
	long := strings.Repeat("K", 300)
	for _, c := range []struct{ line, want string }{
		{"MAIL FROM:<a@o.test> FOO=1 BAR=2", "555 5.5.4 MAIL FROM parameter FOO not recognized"},
		{"MAIL FROM:<a@o.test> SIZE=10 bar=2 FOO=1", "555 5.5.4 MAIL FROM parameter BAR not recognized"},
		{"MAIL FROM:<a@o.test> FLAG", "555 5.5.4 MAIL FROM parameter FLAG not recognized"},
		{"MAIL FROM:<a@o.test> X\xe9=1", `501 5.5.4 Syntax error in MAIL FROM parameters: X\xe9 is no keyword`}, // no esmtp-keyword (rt45-front item 2)
		{"MAIL FROM:<a@o.test> " + long + "=1", "555 5.5.4 MAIL FROM parameter " + long[:64] + "... not recognized"},
	} {
		if got := d.cmd(c.line, c.want[:3]); got != c.want {
			t.Errorf("%.60q: %q, want %q", c.line, got, c.want)
		}
	}
	d.cmd("MAIL FROM:<a@o.test>", "250")
	for _, c := range []struct{ line, want string }{
		{"RCPT TO:<alice@example.test> ZZZ NOTIFY=bad", "555 5.5.4 RCPT TO parameter ZZZ not recognized"},
		{"RCPT TO:<alice@example.test> NOTIFY=NEVER zz=1", "555 5.5.4 RCPT TO parameter ZZ not recognized"},
	} {
		if got := d.cmd(c.line, "555"); got != c.want {
			t.Errorf("%q: %q, want %q", c.line, got, c.want)
		}
	}
}

// SMTP-1: a path that is malformed — a stray angle bracket outside a
// <path> — is a syntax error of the path, 501 (5.1.3 for a recipient,
// 5.1.7 for a sender), never taken for an unknown parameter (555).
func TestSMTP1MalformedPathIs501(t *testing.T) {
	s := startServer(t, &fakeQueue{}, connectors(t, `
  - name: default
    bindings: ["127.0.0.134:0"]
    permissions: {anonymous: [submit]}
`)...)
	d := dial(t, s, "127.0.0.134")
	d.expect("220")
	d.cmd("EHLO c", "250")
	for _, line := range []string{"MAIL FROM:a@o.test>", "MAIL FROM:a@o.test> SIZE=10", "MAIL FROM:a<b@o.test"} {
		if got := d.cmd(line, "5"); !strings.HasPrefix(got, "501 5.1.7 ") {
			t.Errorf("%q: %q, want 501 5.1.7", line, got)
		}
	}
	d.cmd("MAIL FROM:<a@o.test>", "250")
	for _, line := range []string{"RCPT TO:alice@example.test>", "RCPT TO:alice@example.test> NOTIFY=NEVER", "RCPT TO:al<ice@example.test"} {
		if got := d.cmd(line, "5"); !strings.HasPrefix(got, "501 5.1.3 ") {
			t.Errorf("%q: %q, want 501 5.1.3", line, got)
		}
	}
	// A path without angle brackets but otherwise whole is still taken
	// as go-smtp takes it.
	d.cmd("RCPT TO:alice@example.test", "250")
}
