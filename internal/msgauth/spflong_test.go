package msgauth

import (
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
)

// RFC 7208 §7.3: a macro expansion longer than 253 characters is
// shortened from the left, label by label, and then looked up; it is not
// a temperror (there was no DNS failure), so a long VERP local part of a
// p=reject domain passes as a short one does.
func TestSPFMacroExpansionOver253Truncated(t *testing.T) {
	zone := []string{
		`spfmac2.test. 300 IN TXT "v=spf1 exists:%{l}.%{l}.%{l}.%{l}.x.spfmac2.test ip4:127.0.0.0/8 -all"`,
		`_dmarc.spfmac2.test. 300 IN TXT "v=DMARC1; p=reject"`,
		// the expansion of a 63-character local part, truncated to 253
		// characters, exists: the truncated name is the one looked up.
		`spfmac3.test. 300 IN TXT "v=spf1 exists:%{l}.%{l}.%{l}.%{l}.x.spfmac3.test -all"`,
		`_dmarc.spfmac3.test. 300 IN TXT "v=DMARC1; p=reject"`,
	}
	local := "bounce-" + strings.Repeat("a", 56) // 63 characters
	long := strings.Repeat(local+".", 4) + "x.spfmac3.test"
	if len(long) <= 253 {
		t.Fatalf("test name is %d characters", len(long))
	}
	short := long
	for len(short) > 253 {
		short = short[strings.IndexByte(short, '.')+1:]
	}
	zone = append(zone, short+`. 300 IN A 127.0.0.2`)
	e := startEdge(t, "{profile: internet}", zone...)
	for _, l := range []string{"bounce-" + strings.Repeat("a", 40), local} {
		got := e.send(t, "client.test", l+"@spfmac2.test", message("news@spfmac2.test", "verp"))
		if !strings.HasPrefix(got, "250") {
			t.Fatalf("local part of %d characters: %q", len(l), got)
		}
		_, body := e.q.last(t)
		wantAll(t, authResults(t, body), "spf=pass", "dmarc=pass")
	}
	// exists: matched the truncated name (no ip4: to fall back on).
	got := e.send(t, "client.test", local+"@spfmac3.test", message("news@spfmac3.test", "verp3"))
	if !strings.HasPrefix(got, "250") {
		t.Fatalf("truncated exists: %q", got)
	}
	_, body := e.q.last(t)
	wantAll(t, authResults(t, body), "spf=pass", "dmarc=pass")
}

// The other names the checks build from a message: "_dmarc." and a From:
// domain near 253 characters, a DKIM selector and domain together over
// 253. No record can exist there: the policy is looked up at the
// organisational domain, the key is missing (permerror), never a DNS
// failure (451).
func TestLongBuiltNamesAreNotDNSFailures(t *testing.T) {
	zone := append(senderZone, `_dmarc.longorg.test. 300 IN TXT "v=DMARC1; p=none"`)
	e := startEdge(t, "{profile: internet}", zone...)
	long := strings.Repeat(strings.Repeat("d", 60)+".", 4) + "longorg.test" // 256 characters
	long = long[len(long)-250:]
	long = long[strings.IndexByte(long, '.')+1:]
	got := e.send(t, "client.test", "a@none.test", message("a@"+long, "longfrom"))
	if !strings.HasPrefix(got, "250") {
		t.Fatalf("From: domain of %d characters: %q", len(long), got)
	}
	_, body := e.q.last(t)
	wantAll(t, authResults(t, body), "dmarc=fail")

	k := edKey(t)
	sel := strings.Repeat(strings.Repeat("s", 60)+".", 4) + "sel"
	signed := dkimSign(t, message("a@reject.test", "longsel"), "reject.test", sel, k, dkim.CanonicalizationRelaxed, dkim.CanonicalizationRelaxed)
	lax := startEdge(t, "{profile: internet, dmarc: header}", zone...)
	if got := lax.send(t, "client.test", "a@none.test", signed); !strings.HasPrefix(got, "250") {
		t.Fatalf("DKIM selector + domain over 253 characters: %q", got)
	}
	_, body = lax.q.last(t)
	ar := authResults(t, body)
	wantAll(t, ar, "dkim=permerror")
	if strings.Contains(ar, "temperror") {
		t.Errorf("a name that cannot exist is a temperror: %s", ar)
	}
}
