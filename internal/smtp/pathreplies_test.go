package smtp

import (
	"fmt"
	"strings"
	"testing"
)

// SMTP-3 (front47 F2): malformed paths and parameter lists get umbra's
// own replies, each naming what is wrong — never go-smtp's texts ("Was
// expecting RCPT arg syntax", "Unable to parse MAIL ESMTP parameters"),
// never a stray angle bracket read as a parameter, never a parameter
// named by an empty string.
func TestSMTP3MalformedPathAndParamReplies(t *testing.T) {
	s := startServer(t, &fakeQueue{}, connectors(t, anon)...)
	session := func() *dialog { // a session per few refusals: the error limit ends a longer one
		d := dial(t, s, "")
		d.expect("220")
		d.cmd("EHLO c", "250")
		return d
	}
	d := session()
	for _, c := range []struct{ line, want string }{
		{"MAIL FROM:<x@ext.test> =", "501 5.5.4 Syntax error in MAIL FROM parameters: = is no keyword"},
		{"MAIL FROM:<x@ext.test>>", "501 5.1.7 Bad sender address syntax: a stray '>' after the path"},
		{"MAIL FROM:<x>", "501 5.1.7 Bad sender address syntax: no '@' and domain"},
		{"MAIL FROM:<x@ext.test> SIZE==5", "501 5.5.4 Syntax error in MAIL FROM parameters: SIZE==5: a value holds no '='"},
		{"MAIL FROM:<x@ext.test> SIZE=5=5", "501 5.5.4 Syntax error in MAIL FROM parameters: SIZE=5=5: a value holds no '='"},
	} {
		d.cmd(c.line, c.want)
	}
	for i, c := range []struct{ line, want string }{
		{"RCPT TO:<alice@example.test> =x", "501 5.5.4 Syntax error in RCPT TO parameters: =x is no keyword"},
		{"RCPT TO:<alice@example.test>>", "501 5.1.3 Bad recipient address syntax: a stray '>' after the path"},
		{"RCPT TO:<<alice@example.test>>", "501 5.1.3 Bad recipient address syntax: a second '<' in the path"},
		{"RCPT TO:<<alice@example.test>", "501 5.1.3 Bad recipient address syntax: a second '<' in the path"},
		{`RCPT TO:<"alice@example.test">`, "501 5.1.3 Bad recipient address syntax: no '@' and domain"},
		{`RCPT TO:<"alice"example.test>`, "501 5.1.3 Bad recipient address syntax: no '@' and domain"},
		{`RCPT TO:<"al"ice@example.test>`, "501 5.1.3 Bad recipient address syntax: no '@' and domain after the quoted local part"},
		{"RCPT TO:<alice@ example.test>", "501 5.1.3 Bad recipient address syntax: a space in the address"},
		{"RCPT TO:<alice@example.test >", "501 5.1.3 Bad recipient address syntax: a space in the address"},
		{"RCPT TO:<no-domain@>", "501 5.1.3 Bad recipient address syntax: no domain after '@'"},
		{`RCPT TO:<""@example.test>`, "501 5.1.3 Bad recipient address syntax: an empty local part"},
		{"RCPT TO:<a,b@example.test>", "501 5.1.3 Bad recipient address syntax: a ',' in the local part (quote the local part)"},
		{`RCPT TO:<"a@example.test>`, "501 5.1.3 Bad recipient address syntax: an unterminated quoted local part"},
		{"RCPT TO:<alice@example.test> NOTIFY=NEVER=X", "501 5.5.4 Syntax error in RCPT TO parameters: NOTIFY=NEVER=X: a value holds no '='"},
		// Non-ASCII needs SMTPUTF8 first, whatever else is wrong with
		// the domain.
		{"RCPT TO:<alice@bücher.test>", "553 5.6.7 Non-ASCII address requires SMTPUTF8"},
		{"RCPT TO:<alice@\uff43orp.test>", "553 5.6.7 Non-ASCII address requires SMTPUTF8"},
	} {
		if i%4 == 0 {
			d.cmd("QUIT", "221")
			d = session()
			d.cmd("MAIL FROM:<x@ext.test>", "250")
		}
		d.cmd(c.line, c.want)
	}
	d.cmd("RCPT TO:<alice@example.test>", "250") // the transaction stands
	d.cmd("RSET", "250")
	// With SMTPUTF8, an invalid IDN label is 553 5.1.3, its rune named
	// readably (UTF-8 in an SMTPUTF8 transaction, no escaped bytes).
	d.cmd("MAIL FROM:<x@ext.test> SMTPUTF8", "250")
	got := d.cmd("RCPT TO:<alice@\uff43orp.test>", "553 5.1.3 Invalid internationalized domain name: label \uff43orp: disallowed rune U+FF43")
	if strings.Contains(got, `\x`) {
		t.Errorf("escaped bytes in the reply: %q", got)
	}
	d.cmd("QUIT", "221")
}

// SMTP-2 (front47 F2): a message over max_message_size gets one reply,
// umbra's own, whether it came by DATA or by BDAT.
func TestSMTP2TooLargeSameWordingByDataAndBDAT(t *testing.T) {
	s := startServer(t, &fakeQueue{}, connectors(t, `
  - name: small
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    limits: {max_message_size: 1KiB}
`)...)
	const want = "552 5.3.4 Message size exceeds fixed maximum message size"
	big := strings.Repeat(strings.Repeat("x", 78)+"\r\n", 30)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	d.cmd("DATA", "354")
	d.cmd("Subject: x\r\n\r\n"+big+".", want)
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	d.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(big), big))
	d.expect(want)
	d.cmd("QUIT", "221")
}
