package smtp

import (
	"strings"
	"testing"
)

// Client text a reply echoes is bounded (RFC 5321 §4.5.3.1.5: a reply
// line is at most 512 octets with its CRLF): the MAIL and RCPT paths,
// escaped as echoText writes them, are cut and marked "...", never split
// inside an escape; an EHLO/HELO name is at most 255 octets of a domain
// or an address literal, anything else is refused unechoed.
func TestEchoedClientTextIsBounded(t *testing.T) {
	s := startServer(t, &fakeQueue{}, connectors(t, anon)...)
	d := dial(t, s, "")
	d.expect("220")
	long := strings.Repeat("a", 60)
	domain := long + "." + long + "." + long + ".org"
	// A greeting name too long or not a name at all is refused without
	// being echoed (helosyntax.go); the longest name taken, 255 octets,
	// is echoed cut like any other text.
	for _, c := range []string{
		"EHLO " + strings.Repeat("h", 1500),
		"EHLO " + strings.Repeat("\xe9", 400),
		"EHLO " + strings.Repeat(`\`, 300) + "x41",
		"HELO " + strings.Repeat("h", 1500),
	} {
		if got := d.cmd(c, "501 5.5.4 Invalid "); strings.Contains(got, "hhh") || strings.Contains(got, `\`) {
			t.Errorf("%.20q…: the refusal echoes the name: %q", c, got)
		}
	}
	name := strings.Repeat(strings.Repeat("h", 63)+".", 4)[:255]
	if got := d.cmd("EHLO "+name, "250"); !strings.Contains(got, "Hello "+name[:200]+"...\n") {
		t.Errorf("the longest name is not echoed cut: %.300q", got)
	}
	for _, c := range []string{
		"EHLO client.test",
		"MAIL FROM:<" + strings.Repeat("\xc3\xa9", 32) + "@" + domain + "> SMTPUTF8",
		"RCPT TO:<" + strings.Repeat("\xc3\xa9", 32) + "@example.test>",
	} {
		if strings.HasPrefix(c, "RCPT") {
			// An invalid internationalised label is named in the
			// refusal, bounded too.
			for _, bad := range []string{strings.Repeat("\uff41", 21), "xn--" + strings.Repeat("\xc3\xa9", 29) + "a"} {
				got := d.cmd("RCPT TO:<u@"+bad+".example>", "553 5.1.3")
				if len(got)+2 > 512 || strings.ContainsAny(got, "\xff\xc3") {
					t.Errorf("IDN refusal of %d octets: %q", len(got)+2, got)
				}
			}
		}
		got := d.cmd(c, "250")
		for _, line := range strings.Split(got, "\n") {
			if len(line)+2 > 512 {
				t.Errorf("%.20q…: a reply line of %d octets", c, len(line)+2)
			}
		}
		first, _, _ := strings.Cut(got, "\n")
		if len(c) > 300 && !strings.Contains(first, "...") {
			t.Errorf("%.20q…: the cut is not marked: %.80q…", c, first)
		}
		if i := strings.Index(first, "..."); i > 0 {
			// Never inside an escape: what precedes the mark is whole.
			pre := first[:i]
			if j := strings.LastIndex(pre, `\x`); j >= 0 && len(pre)-j < 4 && strings.Count(pre[:j+1], `\`)%2 == 1 {
				t.Errorf("%.20q…: cut inside an escape: %q", c, pre[max(0, len(pre)-10):])
			}
		}
	}
}
