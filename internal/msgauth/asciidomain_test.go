package msgauth

import "testing"

// A domain a check names (the From: domain for DMARC, an SPF identity's,
// a DKIM d= compared with another) takes the one key of the tree
// (mailaddr.Name): an underscore label is a domain (DNS holds it, as
// isHostName says), a character that only stands for ASCII (KELVIN SIGN)
// is refused — never the domain it imitates — and a U-label, capitals
// and a final dot give the lower-case A-label.
func TestASCIIDomainIsMailaddrs(t *testing.T) {
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{"mail_out.example.org", "mail_out.example.org", true},
		{"Bücher.Example.", "xn--bcher-kva.example", true},
		{"XN--BCHER-KVA.example", "xn--bcher-kva.example", true},
		{"\u212Aiosk.test", "", false},
		{"exa\u00admple.test", "", false},
		{"localhost", "localhost", false}, // no dot: not a host name a check asks about
		{"a..b.test", "", false},
		{".", "", false}, // the root: no host name
		{"..", "", false},
	} {
		got, ok := asciiDomain(c.in)
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("asciiDomain(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
	if sameDomain("\u212Aiosk.test", "kiosk.test") {
		t.Error("a KELVIN SIGN lookalike is the same domain as the one it imitates")
	}
	if !sameDomain("mail_out.example.org.", "MAIL_OUT.example.org") {
		t.Error("an underscore domain is not the same as itself in capitals with a final dot")
	}
}
