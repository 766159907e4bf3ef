package msgauth

import (
	"strings"
	"testing"

	"umbra/internal/header"
)

// EDGE-1 (README, Edge: message authentication): every reason shows
// "=", ";" and '"' as "?" and a parenthesis, backslash, control or
// non-ASCII byte as a space — text quoted from the message (quoteShort)
// and text that reaches a reason another way alike, by one mapping.
func TestReasonTextOneMapping(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"From: domain " + quoteShort("ex\xc3\xa9\x01mple") + " is not a domain name", "From: domain 'ex mple' is not a domain name"},
		{"From: domain " + quoteShort("a=b;\"c(d)e\\f") + " is not a domain name", "From: domain 'a?b??c d e f' is not a domain name"},
		{"key s._domainkey.ex\xc3\xa9mple: no key", "key s._domainkey.ex mple: no key"},
		{"cut " + quoteShort("\xc3"), "cut ' '"},
	} {
		if got := commentText(c.in); got != c.want {
			t.Errorf("commentText(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// rt22b L3: umbra's own words in a reason read as written once through
// the one mapping (commentText): they are worded without "=", ";",
// quotes or parentheses, so the mapping that neutralises the message's
// text leaves them whole.
func TestOwnReasonsSurviveTheMapping(t *testing.T) {
	own := []string{errNoValidPolicy.Error(), errTooExpensive.Error(), errEmptyRun.Error()}
	for _, v := range []string{"team: a@x.test;", "=?x-unknown?q?a?= <a@evil.test>", "a@evil.test (=?x-unknown?q?a?=)",
		"\"\u202ex\" <a@evil.test>", "a@evil.test (\u202ex)"} {
		_, err := header.Mailboxes(v)
		if err == nil {
			t.Fatalf("Mailboxes(%q) accepted", v)
		}
		why, _, _ := strings.Cut(err.Error(), " at ")
		own = append(own, why)
	}
	for _, r := range []string{"v=DKIM1; k=rsa", "k=ed25519; p=AAAA"} {
		if _, err := parseKeyRecord(r); err != nil {
			own = append(own, err.Error())
		}
	}
	for _, r := range own {
		if got := commentText(r); got != r {
			t.Errorf("commentText(%q) = %q: umbra's own words changed", r, got)
		}
	}
}
