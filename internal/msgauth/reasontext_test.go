package msgauth

import "testing"

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
