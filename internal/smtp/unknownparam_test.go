package smtp

import (
	"strings"
	"testing"
)

// An unknown MAIL or RCPT parameter is 555 5.5.4 (RFC 5321 §4.1.1.11,
// §4.3.2) whether it is given once or more: the check of a keyword
// given twice (501 5.5.4, RFC 5321 §4.1.2) is for the keywords this
// server knows. A shadow verb's parameter on a connector that offers
// the shadow verbs to nobody is unknown there, given twice too: a 501
// would tell that umbra knows it (SMTP-1, rt24b F3's class).
func TestSMTP1UnknownParameterGivenTwiceIs555(t *testing.T) {
	s := startServer(t, &fakeQueue{}, connectors(t, `
  - name: default
    bindings: ["127.0.0.121:0"]
    permissions: {anonymous: [submit]}
`)...)
	d := dial(t, s, "127.0.0.121")
	d.expect("220")
	if ehlo := d.cmd("EHLO c", "250"); strings.Contains(ehlo, "XSHADOW") {
		t.Fatalf("the connector offers the shadow verbs:\n%s", ehlo)
	}
	for _, c := range []struct{ line, want string }{
		{"MAIL FROM:<a@b.test> X=1", "555 5.5.4 MAIL FROM parameter X not recognized"},
		{"MAIL FROM:<a@b.test> X=1 X=1", "555 5.5.4 MAIL FROM parameter X not recognized"},
		{"MAIL FROM:<a@b.test> X=1 x=2", "555 5.5.4 MAIL FROM parameter X not recognized"},
		{"MAIL FROM:<a@b.test> X=1 SIZE=10 X=1", "555 5.5.4 MAIL FROM parameter X not recognized"},
		{"MAIL FROM:<a@b.test> XSHADOW=1", "555 5.5.4 MAIL FROM parameter XSHADOW not recognized"},
		{"MAIL FROM:<a@b.test> XSHADOW=1 XSHADOW=1", "555 5.5.4 MAIL FROM parameter XSHADOW not recognized"},
		{"MAIL FROM:<a@b.test> XSHADOWCOPY=a XSHADOWCOPY=b", "555 5.5.4 MAIL FROM parameter XSHADOWCOPY not recognized"},
		{"MAIL FROM:<a@b.test> XSHADOWMARK=1 XSHADOWMARK=1", "555 5.5.4 MAIL FROM parameter XSHADOWMARK not recognized"},
		{"MAIL FROM:<a@b.test> XSHADOWBATCH=1 XSHADOWBATCH=1", "555 5.5.4 MAIL FROM parameter XSHADOWBATCH not recognized"},
		// A known keyword given twice is still refused as such.
		{"MAIL FROM:<a@b.test> SIZE=10 size=20", "501 5.5.4 SIZE given more than once"},
		{"MAIL FROM:<a@b.test> BODY=8BITMIME BODY=7BIT", "501 5.5.4 BODY given more than once"},
	} {
		d.send(c.line + "\r\n")
		if got := d.reply(); got != c.want {
			t.Errorf("%q: %q, want %q", c.line, got, c.want)
		}
	}
	d.cmd("MAIL FROM:<a@b.test>", "250")
	for _, c := range []struct{ line, want string }{
		{"RCPT TO:<alice@example.test> Y=1", "555 5.5.4 RCPT TO parameter Y not recognized"},
		{"RCPT TO:<alice@example.test> Y=1 Y=2", "555 5.5.4 RCPT TO parameter Y not recognized"},
		{"RCPT TO:<alice@example.test> RRVS=2020-01-01T00:00:00Z RRVS=2020-01-01T00:00:00Z", "555 5.5.4 RCPT TO parameter RRVS not supported"},
		{"RCPT TO:<alice@example.test> NOTIFY=NEVER NOTIFY=SUCCESS", "501 5.5.4 NOTIFY given more than once"},
	} {
		d.send(c.line + "\r\n")
		if got := d.reply(); got != c.want {
			t.Errorf("%q: %q, want %q", c.line, got, c.want)
		}
	}
}

// A line with an unknown parameter and a malformed known one, or two
// unknown ones, gets one reply whatever the order go-smtp would read its
// parameters in (it keeps them in a map): the first unknown keyword in
// the line's order is refused, 555 5.5.4 (SMTP-1). It was 555 or 501 at
// random. Each line is sent several times: a map's order changes from
// one read to the next.
func TestSMTP1UnknownAndMalformedParameterGetOneReply(t *testing.T) {
	s := startServer(t, &fakeQueue{}, connectors(t, `
  - name: default
    bindings: ["127.0.0.150:0"]
    permissions: {anonymous: [submit]}
`)...)
	// Each line on a connection of its own, sent 12 times (the session's
	// error limit is 20).
	try := func(t *testing.T, mail, line, want string) {
		d := dial(t, s, "127.0.0.150")
		d.expect("220")
		d.cmd("EHLO c", "250")
		if mail != "" {
			d.cmd(mail, "250")
		}
		for range 12 {
			d.send(line + "\r\n")
			if got := d.reply(); got != want {
				t.Fatalf("%q: %q, want %q", line, got, want)
			}
		}
	}
	for _, c := range []struct{ line, want string }{
		{"MAIL FROM:<a@b.test> X=1 BODY=NONSENSE", "555 5.5.4 MAIL FROM parameter X not recognized"},
		{"MAIL FROM:<a@b.test> BODY=NONSENSE X=1", "555 5.5.4 MAIL FROM parameter X not recognized"},
		{"MAIL FROM:<a@b.test> RET=MAYBE Y=2 SIZE=abc", "555 5.5.4 MAIL FROM parameter Y not recognized"},
	} {
		try(t, "", c.line, c.want)
	}
	for _, c := range []struct{ line, want string }{
		{"RCPT TO:<alice@example.test> Y=1 NOTIFY=SOMETIMES", "555 5.5.4 RCPT TO parameter Y not recognized"},
		{"RCPT TO:<alice@example.test> NOTIFY=SOMETIMES RRVS=2020-01-01T00:00:00Z", "555 5.5.4 RCPT TO parameter RRVS not supported"},
		{"RCPT TO:<alice@example.test> RRVS=2020-01-01T00:00:00Z Y=1", "555 5.5.4 RCPT TO parameter RRVS not supported"},
		{"RCPT TO:<alice@example.test> Y=1 RRVS=2020-01-01T00:00:00Z", "555 5.5.4 RCPT TO parameter Y not recognized"},
		{"RCPT TO:<alice@example.test> BY=120;R MT-PRIORITY=3", "555 5.5.4 RCPT TO parameter BY not supported"},
		{"RCPT TO:<alice@example.test> MT-PRIORITY=3 BY=120;R", "555 5.5.4 RCPT TO parameter MT-PRIORITY not supported"},
	} {
		try(t, "MAIL FROM:<a@b.test>", c.line, c.want)
	}
}
