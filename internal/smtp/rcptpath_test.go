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
		{`<"a b"@example.test>`, `a b@example.test`, ``},
		{`<"x@ext.test"@example.test>`, `x@ext.test@example.test`, ``},
		{`<"a\"b"@example.test>`, `a"b@example.test`, ``},
		{`<@a.test,@b.test:u@example.test>`, `u@example.test`, `u@example.test`},
		{`<PostMaster>`, postmasterPath, postmasterPath},
		{`<postmaster@example.test>`, `postmaster@example.test`, `postmaster@example.test`},
		{`<@a.test u@example.test>`, ``, ``},
		{`<"open@example.test>`, ``, ``},
		{`<u@example.test`, ``, ``},
		{`<not an address>`, `not an address`, ``},
	} {
		got, err := RcptPath(c.in)
		if (err != nil) != (c.want == "") || got != c.want {
			t.Errorf("RcptPath(%q) = %q, %v; want %q", c.in, got, err, c.want)
			continue
		}
		a, err := ParseAddress(got)
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
		if a, err := parsePathAddress(p); err == nil && strings.ContainsAny(a.Local, " \"\\") {
			t.Fatalf("%q: local part %q that needs quotes accepted", s, a.Local)
		}
	})
}

// A quoted string whose content is itself in quotes ("\"a b\"") is
// unquoted once by the path parser and must not then pass as a quoted
// local part: a client's RCPT and MAIL refuse it like "a b".
func TestEscapedQuotesInLocalPartRefused(t *testing.T) {
	s := startServer(t, &fakeQueue{}, connectors(t, `
  - name: default
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
`)...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd(`MAIL FROM:<"\"x y\""@example.org>`, "501 5.1.7")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd(`RCPT TO:<"\"a b\""@example.test>`, "501 5.1.3")
	d.cmd(`RCPT TO:<"a b"@example.test>`, "501 5.1.3")
	d.cmd(`RCPT TO:<"b"@example.test>`, "250")
	if p, err := RcptPath(`<"\"a b\""@example.test>`); err == nil {
		if _, err := parsePathAddress(p); err == nil {
			t.Errorf("RcptPath + parsePathAddress take %q", p)
		}
	}
}
