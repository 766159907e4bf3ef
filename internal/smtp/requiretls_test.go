package smtp

import (
	"fmt"
	"strings"
	"testing"
)

// REQUIRETLS (RFC 8689): advertised only once TLS is on; MAIL with it
// is refused outside TLS (530 5.7.10) and carried into the queue record
// over TLS.
func TestRequireTLSAdvertisedAndCarried(t *testing.T) {
	cert, key, pool := testCert(t)
	conns := connectors(t, fmt.Sprintf(`
  - name: internet
    bindings: ["127.0.0.1:0"]
    tls: {cert_file: %q, key_file: %q}
    permissions: {anonymous: [submit]}
`, cert, key))
	q := &fakeQueue{}
	s := startServer(t, q, conns...)
	d := dial(t, s, "")
	d.expect("220")
	if ehlo := d.cmd("EHLO c", "250"); strings.Contains(ehlo, "REQUIRETLS") {
		t.Fatalf("REQUIRETLS offered before TLS:\n%s", ehlo)
	}
	d.cmd("MAIL FROM:<a@example.org> REQUIRETLS", "530 5.7.10")
	d.startTLS(pool)
	if ehlo := d.cmd("EHLO c", "250"); !strings.Contains(ehlo, "250-REQUIRETLS") {
		t.Fatalf("REQUIRETLS not offered over TLS:\n%s", ehlo)
	}
	for _, rt := range []bool{true, false} {
		param := ""
		if rt {
			param = " REQUIRETLS"
		}
		d.cmd("MAIL FROM:<a@example.org>"+param, "250")
		d.cmd("RCPT TO:<b@example.test>", "250")
		d.cmd("DATA", "354")
		d.cmd("Subject: x\r\n\r\nhi\r\n.", "250")
	}
	if q.count() != 2 || !q.msgs[0].RequireTLS || q.msgs[1].RequireTLS {
		t.Fatalf("REQUIRETLS flags in the queue: %d messages", q.count())
	}
}

// REQUIRETLS and SMTPUTF8 take no value (RFC 8689 §4.1, RFC 6531 §3.4):
// "REQUIRETLS=NO" is a syntax error, never a REQUIRETLS message, and a
// keyword given twice is refused (RFC 5321 §4.1.2).
func TestRequireTLSTakesNoValue(t *testing.T) {
	cert, key, pool := testCert(t)
	conns := connectors(t, fmt.Sprintf(`
  - name: internet
    bindings: ["127.0.0.1:0"]
    tls: {cert_file: %q, key_file: %q}
    permissions: {anonymous: [submit]}
`, cert, key))
	q := &fakeQueue{}
	s := startServer(t, q, conns...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@example.org> REQUIRETLS=NO", "501 5.5.4")
	d.startTLS(pool)
	d.cmd("EHLO c", "250")
	for _, p := range []string{"REQUIRETLS=NO", "REQUIRETLS=yes", "requiretls=", "SMTPUTF8=1", "REQUIRETLS REQUIRETLS"} {
		d.cmd("MAIL FROM:<a@example.org> "+p, "501 5.5.4")
	}
	// Any keyword given twice, and an ENVID over 100 characters (RFC
	// 3461 §4.4), are refused too: go-smtp would keep the last value
	// and drop the first silently (rt16).
	for _, p := range []string{"BODY=8BITMIME BODY=7BIT", "RET=HDRS RET=FULL", "ENVID=a envid=b", "SIZE=10 SIZE=20",
		"ENVID=" + strings.Repeat("x", 101)} {
		d.cmd("MAIL FROM:<a@example.org> "+p, "501 5.5.4")
	}
	d.cmd("MAIL FROM:<a@example.org> REQUIRETLS ENVID="+strings.Repeat("x", 100), "250")
	for _, p := range []string{"NOTIFY=NEVER NOTIFY=SUCCESS", "ORCPT=rfc822;b@example.test orcpt=rfc822;c@example.test"} {
		d.cmd("RCPT TO:<b@example.test> "+p, "501 5.5.4")
	}
	d.cmd("RCPT TO:<b@example.test> NOTIFY=NEVER", "250")
	d.cmd("DATA", "354")
	d.cmd("Subject: x\r\n\r\nhi\r\n.", "250")
	if q.count() != 1 || !q.msgs[0].RequireTLS {
		t.Fatalf("queue: %d messages", q.count())
	}
}

// A known keyword given twice is refused whatever the number of
// parameters (RFC 5321 §4.1.2), and a flag's value or a long ENVID even when it is
// the only parameter: the checks of mailParams, the code that runs on
// each MAIL line.
func TestMailParamsGivenTwice(t *testing.T) {
	many := func(n int, last string) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, " X-P%d=1", i)
		}
		return b.String() + last
	}
	const known = " SIZE=1 BODY=7BIT RET=HDRS ENVID=x AUTH=<> SMTPUTF8 REQUIRETLS"
	const unknownMail = "555 5.5.4 MAIL FROM parameter X-P0 not recognized"
	v := &verbConn{sess: func() *session { return nil }}
	for _, c := range []struct{ params, reply string }{
		{"", ""},
		{" REQUIRETLS=NO", "501 5.5.4 REQUIRETLS takes no value"},
		{" ENVID=" + strings.Repeat("x", 101), "501 5.5.4 ENVID longer than 100 characters"},
		{" BODY=8BITMIME", ""},
		{" BODY=8BITMIME body=7BIT", "501 5.5.4 BODY given more than once"},
		{known + " SIZE=2", "501 5.5.4 SIZE given more than once"},
		{known + " requiretls", "501 5.5.4 REQUIRETLS given more than once"},
		{known + " XSHADOWMARK=1 XSHADOWMARK=2", "501 5.5.4 XSHADOWMARK given more than once"},
		{known, ""},
		// A keyword the server does not know is refused as such (555
		// 5.5.4), given twice too, before any check of the known ones:
		// the refusal names the first unknown one only.
		{many(7, " X-P0=2"), unknownMail},
		{many(30, " X-P29=2"), unknownMail},
		{known + " X=1 X=2 SIZE=3", "555 5.5.4 MAIL FROM parameter X not recognized"},
		{many(30, ""), unknownMail},
		// The layer's own keywords too, before copyParams reads them.
		{" XSHADOWMARK=1 XSHADOWMARK=2", "501 5.5.4 XSHADOWMARK given more than once"},
		{" XSHADOWBATCH=1 xshadowbatch=2", "501 5.5.4 XSHADOWBATCH given more than once"},
		{" XSHADOWCOPY=a XSHADOWCOPY=b", "501 5.5.4 XSHADOWCOPY given more than once"},
	} {
		out, reply := v.mailParams([]byte("MAIL FROM:<a@b.test>" + c.params + "\r\n"))
		if reply != c.reply || (reply == "") != (out != nil) {
			t.Errorf("%.60q: %q, %q; want %q", c.params, out, reply, c.reply)
		}
	}
}

// FuzzMailFlagParams: mailParams (the code that runs on each MAIL line,
// outside a shadow session) never panics, and a refusal is a 501 5.5.4,
// a 501 5.1.7 for a malformed path (saying what is wrong: front47 F2),
// or a 555 5.5.4 for a keyword it does not know.
func FuzzMailFlagParams(f *testing.F) {
	for _, s := range []string{"MAIL FROM:<a@b> REQUIRETLS=NO\r\n", `MAIL FROM:<"x>y"@b> SMTPUTF8 SMTPUTF8`, "MAIL FROM:<>", "MAIL FROM:<a"} {
		f.Add(s)
	}
	v := &verbConn{sess: func() *session { return nil }}
	f.Fuzz(func(t *testing.T, s string) {
		_, r := v.mailParams([]byte(s))
		if r != "" && !strings.HasPrefix(r, "501 5.5.4 ") && !strings.HasPrefix(r, "501 5.1.7 Bad sender address syntax") &&
			(!strings.HasPrefix(r, "555 5.5.4 MAIL FROM parameter ") || !strings.HasSuffix(r, " not recognized")) {
			t.Fatalf("%q -> %q", s, r)
		}
	})
}
