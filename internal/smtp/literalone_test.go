package smtp

import (
	"strings"
	"testing"

	"umbra/internal/mailaddr"
)

// One reader of an address literal (mailaddr.ParseLiteral, RFC 5321
// §4.1.3) for RCPT, MAIL and the EHLO/HELO argument: "[IPv6:1.2.3.4]"
// (an IPv4 address after the IPv6 tag), "[::1]" (no tag), a zone, a
// bracket that holds no address are no literal anywhere. RCPT refuses
// them as the syntax errors they are, 501 5.1.3, saying what is wrong
// with the literal; MAIL with 501 5.1.7 (SMTP-1).
func TestAddressLiteralOneReader(t *testing.T) {
	bad := []string{"[IPv6:1.2.3.4]", "[::1]", "[IPv6:fe80::1%eth0]", "[IPv6:::1::2]", "[not-an-ip]", "[198.51.100.7", "[300.1.1.1]", "[x-tag:whatever]"}
	good := []string{"[192.0.2.1]", "[IPv6:2001:db8::1]", "[ipv6:::ffff:192.0.2.1]", "[1.2.3.04]"}
	for _, lit := range bad {
		_, perr := mailaddr.ParseLiteral(lit)
		_, aerr := ParseAddress("u@" + lit)
		if perr == nil || aerr == nil || greetingSyntax("EHLO", lit) == "" {
			t.Errorf("%s: literal reader %v, address %v, greeting %q: each must refuse it", lit, perr, aerr, greetingSyntax("EHLO", lit))
		}
	}
	for _, lit := range good {
		_, perr := mailaddr.ParseLiteral(lit)
		a, aerr := ParseAddress("u@" + lit)
		ip, ok := a.LiteralAddr()
		if perr != nil || aerr != nil || !ok || !ip.IsValid() || greetingSyntax("EHLO", lit) != "" {
			t.Errorf("%s: literal reader %v, address %v (%v %v), greeting %q: each must take it", lit, perr, aerr, ip, ok, greetingSyntax("EHLO", lit))
		}
	}

	q := &fakeQueue{}
	s := startWith(t, ServerConfig{Queue: q, Postmaster: "postmaster@example.test", Connectors: connectors(t, `
  - name: relay
    bindings: ["127.0.0.1:0"]
    remote_ranges: ["127.0.0.0/8", "::1/128"] # relay only from loopback (SMTP-3)
    permissions: {anonymous: [submit, relay]}
`)})
	d := dial(t, s, "")
	d.expect("220")
	for _, lit := range bad[:3] {
		d.cmd("EHLO "+lit, "501 5.5.4")
		d.cmd("HELO "+lit, "501 5.5.4")
	}
	d = dial(t, s, "") // a new session for each part: the error limit
	d.expect("220")
	d.cmd("EHLO c", "250")
	for _, lit := range bad {
		got := d.cmd("MAIL FROM:<a@"+lit+">", "501 5.1.7")
		if !strings.Contains(got, "address literal") {
			t.Errorf("MAIL FROM:<a@%s>: %q does not say what is wrong", lit, got)
		}
	}
	d = dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	for _, lit := range bad {
		got := d.cmd("RCPT TO:<u@"+lit+">", "501 5.1.3")
		if !strings.Contains(got, "address literal") {
			t.Errorf("RCPT TO:<u@%s>: %q does not say what is wrong", lit, got)
		}
		if strings.Contains(got, lit) {
			t.Errorf("RCPT TO:<u@%s>: %q echoes the client's text", lit, got)
		}
		if strings.Contains(got, `\x`) {
			t.Errorf("RCPT TO:<u@%s>: %q carries bytes that are not ASCII", lit, got)
		}
	}
	// A well-formed literal is refused by policy, not by syntax.
	d.cmd("RCPT TO:<u@[IPv6:2001:db8::1]>", "550 5.1.2")
}
