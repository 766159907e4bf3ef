package msgauth

import (
	"strings"
	"testing"
)

// An SPF macro expanding the sender's local part (%{s}, %{l}) builds a
// name whose labels may hold any byte (RFC 7208 §7.3): "@" from %{s},
// "'" or a backslash from a local part (%{l} of "a\\b" is the local
// part as written, its quotes and both backslashes). The record
// published at that name is found — a pass, never a temperror that defers the mail of a
// p=reject domain ("451 4.7.0 DMARC could not be evaluated (DNS
// failure)") at every try until it bounced. A label the expansion makes
// longer than 63 octets is no name a record can be at: the mechanism
// does not match (the next one decides), never a temperror.
func TestSPFMacroOfLocalPartWithSpecialBytes(t *testing.T) {
	zone := []string{
		`s20.test. 60 IN TXT "v=spf1 exists:%{s}.ok.x.test -all"`,
		`_dmarc.s20.test. 60 IN TXT "v=DMARC1; p=reject"`,
		`user2\@s20.test.ok.x.test. 60 IN A 127.0.0.2`,
		`s21.test. 60 IN TXT "v=spf1 exists:%{l}.ok.x.test -all"`,
		`_dmarc.s21.test. 60 IN TXT "v=DMARC1; p=reject"`,
		`o\'brien.ok.x.test. 60 IN A 127.0.0.2`,
		`\"a\\\\b\".ok.x.test. 60 IN A 127.0.0.2`,
		`s22.test. 60 IN TXT "v=spf1 exists:%{l}.ok.x.test ip4:127.0.0.0/8 -all"`,
		`_dmarc.s22.test. 60 IN TXT "v=DMARC1; p=reject"`,
	}
	e := startEdge(t, "{profile: internet}", zone...)
	for _, from := range []string{"user2@s20.test", "o'brien@s21.test", `"a\\b"@s21.test`, strings.Repeat("l", 64) + "@s22.test"} {
		got := e.send(t, "client.test", from, message("news@"+from[strings.LastIndexByte(from, '@')+1:], "special"))
		if !strings.HasPrefix(got, "250") {
			t.Errorf("MAIL FROM:<%s>: %q", from, got)
			continue
		}
		_, body := e.q.last(t)
		ar := authResults(t, body)
		if !strings.Contains(ar, "spf=pass") || !strings.Contains(ar, "dmarc=pass") {
			t.Errorf("MAIL FROM:<%s>: %s, want spf=pass and dmarc=pass", from, ar)
		}
	}
}
