package smtp

import (
	"strings"
	"testing"
)

// RcptPath reads a path as the client's RCPT does (go-smtp's parser and
// the verb layer's postmaster rule).
func TestRcptPath(t *testing.T) {
	for _, c := range []struct{ in, want, parsed string }{
		{`<u@example.test>`, `u@example.test`, `u@example.test`},
		{`u@Example.TEST`, `u@Example.TEST`, `u@example.test`},
		{`<"john.doe"@example.test>`, `john.doe@example.test`, `john.doe@example.test`},
		{`<"a b"@example.test>`, `a b@example.test`, `"a b"@example.test`},
		{`<"x@ext.test"@example.test>`, `x@ext.test@example.test`, ``},
		{`<"a\"b"@example.test>`, `a"b@example.test`, `"a\"b"@example.test`},
		{`<@a.test,@b.test:u@example.test>`, `u@example.test`, `u@example.test`},
		{`<PostMaster>`, postmasterPath, postmasterPath},
		{`<postmaster@example.test>`, `postmaster@example.test`, `postmaster@example.test`},
		{`<@a.test u@example.test>`, ``, ``},
		{`<"open@example.test>`, ``, ``},
		{`<u@example.test`, ``, ``},
		{`<not an address>`, ``, ``},
		{`<"a"b@example.test>`, ``, ``},
		{`<a\\b@example.test>`, ``, ``},
	} {
		got, err := RcptPath(c.in)
		if (err != nil) != (c.want == "") || got != c.want {
			t.Errorf("RcptPath(%q) = %q, %v; want %q", c.in, got, err, c.want)
			continue
		}
		a, err := parsePathAddress(got)
		if c.parsed == "" {
			if err == nil {
				t.Errorf("%q: %q parses as an address", c.in, got)
			}
		} else if err != nil || a.String() != c.parsed {
			t.Errorf("%q: parsed %q, %v; want %q", c.in, a.String(), err, c.parsed)
		}
	}
}

func FuzzRcptPath(f *testing.F) {
	for _, s := range []string{`<"a b"@x.test>`, `<@a,@b:u@x.test>`, `postmaster`, `<"\`, `"a\"@x`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := RcptPath(s)
		if err != nil {
			return
		}
		a, err := parsePathAddress(p)
		if err != nil {
			return
		}
		// A local part that needs its quotes keeps them, and the stored
		// form reads back as the same address (rt29b F3).
		if strings.ContainsAny(a.Local, " \"\\") && !strings.HasPrefix(a.Local, `"`) {
			t.Fatalf("%q: local part %q that needs quotes taken unquoted", s, a.Local)
		}
		p2, err := RcptPath("<" + a.String() + ">")
		if err != nil {
			t.Fatalf("%q: stored form %q: %v", s, a.String(), err)
		}
		if b, err := parsePathAddress(p2); err != nil || b != a {
			t.Fatalf("%q: stored form %q reads back as %+v, %v", s, a.String(), b, err)
		}
	})
}

// TestQuotedLocalPartTaken (SMTP-1, RFC 5321 §4.1.2; rt29b F3): a
// quoted local part may hold a space (qtextSMTP includes %d32) and the
// quoted-pairs \" and \\; such an address is no syntax error. It is
// kept in its RFC 5321 quoted form ("an na"@…), which the queue, the
// outbound MAIL/RCPT, the DSN and the logs carry as it is, and echoed
// so. A quoted string whose content is itself in quotes ("\"a b\"") is
// that content, quoted again — never taken for the address "a b".
// Only a local part holding an "@" stays refused: it could be read as
// another address.
func TestQuotedLocalPartTaken(t *testing.T) {
	q := &fakeQueue{}
	s := startServer(t, q, connectors(t, `
  - name: default
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
`)...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	if got := d.cmd(`MAIL FROM:<"x \"y\" \\z"@example.org>`, "250"); got != `250 2.1.0 Roger, accepting mail from <"x \"y\" \\z"@example.org>` {
		t.Errorf("MAIL reply %q", got)
	}
	if got := d.cmd(`RCPT TO:<"an na"@example.test>`, "250"); got != `250 2.1.5 I'll make sure <"an na"@example.test> gets this` {
		t.Errorf("RCPT reply %q", got)
	}
	d.cmd(`RCPT TO:<"\"a b\""@example.test>`, "250")
	d.cmd(`RCPT TO:<"b"@example.test>`, "250")
	d.cmd(`RCPT TO:<"x@ext.test"@example.test>`, "501 5.1.3")
	d.cmd(`RCPT TO:<"a."@example.test>`, "501 5.1.3 Bad recipient address syntax: local part ends with a dot")
	d.cmd("DATA", "354")
	d.cmd("Subject: x\r\n\r\nhi\r\n.", "250")
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.msgs) != 1 {
		t.Fatalf("%d messages queued", len(q.msgs))
	}
	m := q.msgs[0]
	var rcpts []string
	for _, r := range m.Rcpts {
		rcpts = append(rcpts, r.Addr)
	}
	if m.From != `"x \"y\" \\z"@example.org` || strings.Join(rcpts, " ") != `"an na"@example.test "\"a b\""@example.test b@example.test` {
		t.Fatalf("queued from %q to %q", m.From, rcpts)
	}
	// The stored form reads back as the same address.
	for _, a := range append(rcpts, m.From) {
		p, err := RcptPath("<" + a + ">")
		if err != nil {
			t.Fatalf("%q: %v", a, err)
		}
		if b, err := parsePathAddress(p); err != nil || b.String() != a {
			t.Errorf("%q reads back as %q, %v", a, b.String(), err)
		}
	}
}
