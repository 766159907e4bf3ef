package mailaddr

import (
	"strings"
	"testing"
)

// An address literal (RFC 5321 §4.1.3) is "[" IPv4 "]" — four decimal
// numbers 0–255 (Snum: one to three digits) — or "[IPv6:" IPv6 "]", the
// tag in any case, an IPv6 address without a zone. ParseLiteral is the
// one reader of it: RCPT and MAIL (smtp.ParseAddress), the EHLO/HELO
// argument (smtp greetingSyntax, connfilter.ValidHELO), route explain.
func TestParseLiteral(t *testing.T) {
	for in, want := range map[string]string{
		"[192.0.2.1]": "192.0.2.1", "[0.0.0.0]": "0.0.0.0", "[1.2.3.04]": "1.2.3.4", "[255.255.255.255]": "255.255.255.255",
		"[IPv6:2001:db8::1]": "2001:db8::1", "[ipv6:::1]": "::1", "[IPV6:::ffff:192.0.2.1]": "::ffff:192.0.2.1",
	} {
		a, err := ParseLiteral(in)
		if err != nil || a.String() != want {
			t.Errorf("ParseLiteral(%q) = %v, %v; want %s", in, a, err, want)
		}
	}
	for in, why := range map[string]string{
		"[IPv6:1.2.3.4]":      "IPv6 address",
		"[IPv6:fe80::1%eth0]": "zone",
		"[IPv6:::1::2]":       "IPv6 address",
		"[IPv6:]":             "IPv6 address",
		"[::1]":               "IPv6:",
		"[2001:db8::1]":       "IPv6:",
		"[x-tag:whatever]":    "tag",
		"[300.1.1.1]":         "0 to 255",
		"[1.2.3]":             "four",
		"[1.2.3.4.5]":         "four",
		"[1.2.3.0004]":        "0 to 255",
		"[1.2.3.+4]":          "0 to 255",
		"[not-an-ip]":         "four",
		"[]":                  "empty",
		"[192.0.2.1":          "]",
		"192.0.2.1]":          "[",
		"[192.0.2.1]x":        "]",
	} {
		a, err := ParseLiteral(in)
		if err == nil {
			t.Errorf("ParseLiteral(%q) = %v, want an error saying %q", in, a, why)
			continue
		}
		if !strings.Contains(err.Error(), why) {
			t.Errorf("ParseLiteral(%q): %v, want it to say %q", in, err, why)
		}
		for _, c := range err.Error() { // a reply carries it: printable ASCII only
			if c < 0x20 || c > 0x7e {
				t.Errorf("ParseLiteral(%q): %q has %q, not printable ASCII", in, err, c)
				break
			}
		}
		if strings.Contains(err.Error(), in) && in != "[]" {
			t.Errorf("ParseLiteral(%q): %v echoes the text it was given", in, err)
		}
	}
}
