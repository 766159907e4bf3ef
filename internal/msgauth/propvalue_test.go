package msgauth

import (
	"strings"
	"testing"
)

// rt20b-F5 (RFC 8601 §2.2, §2.7.1): a DKIM identity's domain written as
// a U-label is written as its A-label, as header.d is; no character of
// a property value is dropped silently (dropping them named another,
// real-looking domain: "ceo@bnk.test" for ceo@bänk.test).
func TestPropertyValuesKeepEveryCharacter(t *testing.T) {
	r := &results{dkimRun: true, dkim: []dkimResult{
		{value: "fail", domain: "bänk.test", identity: "ceo@bänk.test", selector: "s1"},
		{value: "fail", domain: "bänk.test", identity: "@bänk.test", selector: "s\u00e92"},
		{value: "fail", domain: "x.test", identity: "j\u00f6rg@x.test", selector: "s3"},
	}}
	ar := string(formatAuthResults("mx.example.test", r.results()))
	for _, want := range []string{
		`header.d=xn--bnk-qla.test header.i=ceo@xn--bnk-qla.test header.s=s1`,
		`header.d=xn--bnk-qla.test header.i=@xn--bnk-qla.test header.s="s?2"`,
		`header.d=x.test header.i="j?rg@x.test" header.s=s3`,
	} {
		if !strings.Contains(ar, want) {
			t.Errorf("Authentication-Results lacks %q:\n%s", want, ar)
		}
	}
	for i := 0; i < len(ar); i++ {
		if ar[i] >= 0x7f {
			t.Fatalf("a byte 0x%x in umbra's Authentication-Results: %s", ar[i], ar)
		}
	}
}
