package smtp

import (
	"testing"
)

// SMTP-1 (RFC 5321 §4.1.2: a Dot-string is atoms joined by single
// dots): a local part that starts or ends with a dot, or holds two in a
// row, is refused at RCPT (501 5.1.3) and MAIL (501 5.1.7) with the
// reason named. A quoted local part is taken by its content (README,
// Addresses): the same local parts quoted get the same refusal, and a
// quoted valid dot-string ("a.b") is accepted.
func TestLocalPartDotsNamed(t *testing.T) {
	s := startWithChecks(t, &fakeQueue{})
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO client.test", "250")
	for _, c := range []struct{ local, why string }{
		{"a.", "local part ends with a dot"},
		{".a", "local part starts with a dot"},
		{"a..b", "local part has two dots in a row"},
	} {
		d.cmd("MAIL FROM:<"+c.local+"@sender.test>", "501 5.1.7 Bad sender address syntax: "+c.why)
		d.cmd("MAIL FROM:<a@sender.test>", "250")
		d.cmd("RCPT TO:<"+c.local+"@example.test>", "501 5.1.3 Bad recipient address syntax: "+c.why)
		d.cmd("RCPT TO:<\""+c.local+"\"@example.test>", "501 5.1.3 Bad recipient address syntax: "+c.why)
		d.cmd("RCPT TO:<\"a.b\"@example.test>", "250") // quoted valid dot-string
		d.cmd("RSET", "250")
		d.cmd("MAIL FROM:<\""+c.local+"\"@sender.test>", "501 5.1.7 Bad sender address syntax: "+c.why)
		d.cmd("MAIL FROM:<\"a.b\"@sender.test>", "250")
		d.cmd("RSET", "250")
		if r := RecipientRefusal(c.local + "@example.test"); r == nil || r.Message != "Bad recipient address syntax: "+c.why {
			t.Errorf("RecipientRefusal(%s@example.test) = %v", c.local, r)
		}
	}
}

// SMTP-1 (RFC 5321 §4.1.2: a Domain is sub-domains joined by single
// dots): a domain that starts with a dot or holds two in a row is
// refused at RCPT (501 5.1.3) and MAIL (501 5.1.7) with its fault named,
// as a local part's is (rt20e F8).
func TestDomainDotsNamed(t *testing.T) {
	s := startWithChecks(t, &fakeQueue{})
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO client.test", "250")
	for _, c := range []struct{ domain, why string }{
		{"corp..test", "domain has two dots in a row"},
		{".corp.test", "domain starts with a dot"},
	} {
		d.cmd("MAIL FROM:<a@"+c.domain+">", "501 5.1.7 Bad sender address syntax: "+c.why)
		d.cmd("MAIL FROM:<a@sender.test>", "250")
		d.cmd("RCPT TO:<alice@"+c.domain+">", "501 5.1.3 Bad recipient address syntax: "+c.why)
		d.cmd("RSET", "250")
		if r := RecipientRefusal("alice@" + c.domain); r == nil || r.Message != "Bad recipient address syntax: "+c.why {
			t.Errorf("RecipientRefusal(alice@%s) = %v", c.domain, r)
		}
	}
}

// SMTP-1, rt36 front F3: a quoted local part whose content's dots are
// wrong was refused only when the content was otherwise a dot-string
// (".a", "a..b"); with a space or a quoted-pair beside them
// ("..\\..\\x", ".. x", "a..b c", "x. ") it was taken — the first
// delivered into a Maildir folder named after it. The dots of the
// content are judged whatever else it holds (README: "quoted or not").
func TestQuotedLocalPartDotsJudgedWhateverItHolds(t *testing.T) {
	s := startWithChecks(t, &fakeQueue{})
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO client.test", "250")
	d.cmd("MAIL FROM:<a@sender.test>", "250")
	for _, c := range []struct{ local, why string }{
		{`"..\\..\\x"`, "local part starts with a dot"},
		{`".. x"`, "local part starts with a dot"},
		{`"a..b c"`, "local part has two dots in a row"},
		{`"x. "`, "local part ends with a dot"},
		{`"a. .b"`, "local part has two dots in a row"},
		{`"x ."`, "local part ends with a dot"},
		{`"a\..b c"`, "local part has two dots in a row"}, // a quoted-pair dot is a dot
	} {
		d.cmd("RCPT TO:<"+c.local+"@example.test>", "501 5.1.3 Bad recipient address syntax: "+c.why)
		d.cmd("RSET", "250")
		d.cmd("MAIL FROM:<"+c.local+"@sender.test>", "501 5.1.7 Bad sender address syntax: "+c.why)
		d.cmd("MAIL FROM:<a@sender.test>", "250")
	}
	d.cmd(`RCPT TO:<"a.b c"@example.test>`, "250") // single dots inside: taken
}

// SMTP-1 (front38 F4): a domain that ends in two dots holds two in a
// row, as the one that holds them inside does: "example.test.." was
// refused with no reason, its final dot taken off before the dots were
// judged. MAIL, RCPT and RecipientRefusal (route explain, the admin
// paths) read it the same way; a single final dot is still allowed.
func TestDomainEndingInTwoDotsNamed(t *testing.T) {
	s := startWith(t, ServerConfig{Connectors: connectors(t, `
  - name: internet
    bindings: ["`+frontAddr(t)+`"]
    permissions: {anonymous: [submit]}
`)})
	d := dial(t, s, "127.0.0.124")
	d.expect("220")
	d.cmd("EHLO client.test", "250")
	for _, domain := range []string{"example.test..", "x.org..", "example..test.", "example.test..."} {
		why := "domain has two dots in a row"
		d.cmd("MAIL FROM:<a@"+domain+">", "501 5.1.7 Bad sender address syntax: "+why)
		d.cmd("MAIL FROM:<a@sender.test>", "250")
		d.cmd("RCPT TO:<alice@"+domain+">", "501 5.1.3 Bad recipient address syntax: "+why)
		d.cmd("RSET", "250")
		if r := RecipientRefusal("alice@" + domain); r == nil || r.Message != "Bad recipient address syntax: "+why {
			t.Errorf("RecipientRefusal(alice@%s) = %v", domain, r)
		}
	}
	d.cmd("MAIL FROM:<a@sender.test.>", "250")
	d.cmd("RCPT TO:<alice@example.test.>", "250")
}
