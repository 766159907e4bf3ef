package smtp

import (
	"fmt"
	"strings"
	"testing"

	gosmtp "github.com/emersion/go-smtp"
)

// RCPT's refusal of a domain that is no domain name says what it is:
// IP-address text is an IP address, a domain with a port has a port,
// a bracket that is no address literal is said to be none, a syntax
// error (501 5.1.3, mailaddr.ParseLiteral's words) — never "an IP
// address" for what is not one (rt18c-F6). route explain answers
// with the same replies (RcptRefusal).
func TestRcptRefusalSaysWhy(t *testing.T) {
	for _, c := range []struct{ addr, code, want, not string }{
		{"x@relayed.test:25", "550 5.1.2", "port", "IP address"},
		{"x@192.0.2.1:25", "550 5.1.2", "port", "is an IP address"},
		{"x@[not-an-ip]", "501 5.1.3", "no address literal", "is an IP address"},
		{"x@[192.0.2.1", "501 5.1.3", "no address literal", "is an IP address"},
		{"x@[IPv6:192.0.2.1]", "501 5.1.3", "holds an IPv6 address", "is an IP address"},
		{"x@::1", "550 5.1.2", "is an IP address", ""},
		{"x@IPv6:::1", "550 5.1.2", "is an IP address", ""},
		{"x@192.0.2.1", "550 5.1.2", "is an IP address", ""},
		{"x@foo:bar", "501 5.1.3", "", "IP address"},
	} {
		r := RecipientRefusal(c.addr)
		if r == nil {
			t.Errorf("%s: accepted", c.addr)
			continue
		}
		got := r.Error()
		if codeOf(r) != c.code || !strings.Contains(got, c.want) || (c.not != "" && strings.Contains(got, c.not)) {
			t.Errorf("%s: %s %q, want %s saying %q (not %q)", c.addr, codeOf(r), got, c.code, c.want, c.not)
		}
	}
}

func codeOf(r *gosmtp.SMTPError) string {
	return fmt.Sprintf("%d %d.%d.%d", r.Code, r.EnhancedCode[0], r.EnhancedCode[1], r.EnhancedCode[2])
}
