package smtp

import (
	"strings"
	"testing"

	gosmtp "github.com/emersion/go-smtp"
)

// QUIT is never a junk command nor an error, and a session at either
// limit that says QUIT gets its 221, not the limit's 421 (rt49 front
// F3): EHLO + 99 NOOP + QUIT, and 20 unknown commands + QUIT. Any other
// command past the limit still ends the session with the 421.
func TestSMTP8QuitAtLimitGets221(t *testing.T) {
	s := startServer(t, &fakeQueue{}, connectors(t, `
  - name: default
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    limits: {max_junk_commands: 100, max_errors: 20, soft_error_limit: 100}
`)...)
	for _, tc := range []struct {
		name, verb string
		n          int
		last, want string
	}{
		{"junk limit then QUIT", "NOOP", 99, "QUIT", "221 2.0.0"},
		{"junk limit then NOOP", "NOOP", 99, "NOOP", "421 4.7.0 Too many commands"},
		{"error limit then QUIT", "FOO", 20, "QUIT", "221 2.0.0"},
		{"error limit then MAIL", "FOO", 20, "MAIL FROM:<a@example.org>", "421 4.7.0 Too many errors"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := dial(t, s, "")
			d.expect("220")
			d.cmd("EHLO c", "250")
			for i := 0; i < tc.n; i++ {
				if r := d.cmd(tc.verb, ""); strings.HasPrefix(r, "421") {
					t.Fatalf("%s #%d: %q", tc.verb, i+1, r)
				}
			}
			if r := d.cmd(tc.last, tc.want); !strings.HasPrefix(r, tc.want) {
				t.Fatalf("%s after the limit: %q, want %q", tc.last, r, tc.want)
			}
		})
	}
}

// Every refusal of a malformed path says what is wrong (README: "the
// reply saying what is wrong after `Bad recipient address syntax: `"):
// none is the bare 501 5.1.3 (5.1.7 for MAIL) — rt49 front F2.
func TestSMTP1MalformedPathRefusalNamesTheFault(t *testing.T) {
	s := startServer(t, &fakeQueue{}, connectors(t, `
  - name: default
    bindings: ["127.0.0.1:0"]
    remote_ranges: ["127.0.0.0/8"]
    permissions: {anonymous: [submit, relay]}
    limits: {max_errors: 1000, soft_error_limit: 1000}
`)...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@example.org> SMTPUTF8", "250")
	for _, tc := range []struct{ path, want string }{
		{"x@ext.test@example.test", "501 5.1.3 Bad recipient address syntax: more than one '@'"},
		{`x@ext.test\@example.test`, "501 5.1.3 Bad recipient address syntax: more than one '@'"},
		{"x@example.test%ext.test", "501 5.1.3 Bad recipient address syntax: a '%' in the domain"},
		{"x@example.test(ext.test)", "501 5.1.3 Bad recipient address syntax: a '(' in the domain"},
		{"x@ext.test,alice@example.test", "501 5.1.3 Bad recipient address syntax: more than one '@'"},
		{`x@example.test\.`, `501 5.1.3 Bad recipient address syntax: a '\' in the domain`},
		{"x@ext.test:", "501 5.1.3 Bad recipient address syntax: a ':' in the domain"},
		{"x@-a.example.test", "501 5.1.3 Bad recipient address syntax: a domain label begins with '-'"},
		{"x@a-.example.test", "501 5.1.3 Bad recipient address syntax: a domain label ends with '-'"},
		{"alice@example.test-", "501 5.1.3 Bad recipient address syntax: a domain label ends with '-'"},
		{"x@xn--example-.test", "553 5.1.3 Invalid internationalized domain name: label xn--example-"},
		{"a\x01b@example.test", "501 5.1.3 Bad recipient address syntax: a control character in the local part"},
		{"@:alice@example.test", "501 5.1.3 Bad recipient address syntax: a source route with no domain after '@'"},
		{"@,@a.test:alice@example.test", "501 5.1.3 Bad recipient address syntax: a source route with no domain after '@'"},
		{"@a.test,b.test:alice@example.test", "501 5.1.3 Bad recipient address syntax: a source route element without '@'"},
		{"@a(b).test:alice@example.test", "501 5.1.3 Bad recipient address syntax: a source route domain that is no domain name"},
	} {
		r := d.cmd("RCPT TO:<"+tc.path+">", "")
		if !strings.HasPrefix(r, tc.want) {
			t.Errorf("RCPT TO:<%q>: %q, want %q", tc.path, r, tc.want)
		}
	}
	d.cmd("RSET", "250")
	for _, tc := range []struct{ path, want string }{
		{"a@b@ext.test", "501 5.1.7 Bad sender address syntax: more than one '@'"},
		{"a@ext.test,b@ext.test", "501 5.1.7 Bad sender address syntax: more than one '@'"},
		{"a@ext.test(x)", "501 5.1.7 Bad sender address syntax: a '(' in the domain"},
		{"a@-x.test", "501 5.1.7 Bad sender address syntax: a domain label begins with '-'"},
	} {
		r := d.cmd("MAIL FROM:<"+tc.path+">", "")
		if !strings.HasPrefix(r, tc.want) {
			t.Errorf("MAIL FROM:<%q>: %q, want %q", tc.path, r, tc.want)
		}
		d.cmd("RSET", "250")
	}
}

// No refusal of a path is the bare malformed-path reply: whatever RCPT
// (ParseRcptPath, RcptRefusal) or MAIL (parsePathAddress and its
// replies) refuses, the reply says what is wrong (rt49 front F2).
func FuzzPathRefusalNamesFault(f *testing.F) {
	for _, s := range []string{"x@ext.test@example.test", `x@ext.test\@example.test`, "x@example.test%ext.test",
		"x@example.test(ext.test)", "x@ext.test,alice@example.test", `x@example.test\.`, "x@ext.test:",
		"x@-a.example.test", "x@a-.example.test", "x@xn--example-.test", "alice@example.test-", "a\x01b@example.test",
		"@:alice@example.test", "<a@b", `"a`, `"a"b@c`, "a@::1", "a@b.test:25", "a@[1.2.3.4]:25", "a@[x]", "\xff@a"} {
		f.Add(s)
	}
	bare := func(r *gosmtp.SMTPError) bool {
		return r.Message == replyBadRcpt.Message || r.Message == replyBadSender.Message ||
			strings.HasSuffix(r.Message, ": ")
	}
	f.Fuzz(func(t *testing.T, s string) {
		if _, _, err := ParseRcptPath(s); err != nil {
			if r := RcptRefusal(err); bare(r) {
				t.Fatalf("RCPT TO:<%q> refused bare: %d %v %q (%v)", s, r.Code, r.EnhancedCode, r.Message, err)
			}
		}
		if _, err := parsePathAddress(s); err != nil {
			var r *gosmtp.SMTPError
			if e := idnReply(err, 7); e != nil {
				r = e.(*gosmtp.SMTPError)
			} else if r = literalReply(err, 7); r == nil {
				r = syntaxReply(err, replyBadSender)
			}
			if bare(r) {
				t.Fatalf("MAIL FROM:<%q> refused bare: %q (%v)", s, r.Message, err)
			}
		}
	})
}
