package header

import "testing"

// TestASCIILookAlikeTopLabelShowsAddress (EDGE-1; review of front25 F1):
// a dotted ASCII shown domain is read as a reader may misread it too.
// ASCII has look-alikes of its own (UTS 39: skeleton("com") is "corn",
// 'I' and '1' show as 'l', '0' as 'o'), and a top-level label has no
// hyphen: each name below shows bank.com, paypal.com or the own
// corp.lan to a reader, and is refused (asciiReadings), as every dotted
// shown domain was before the prose rule.
func TestASCIILookAlikeTopLabelShowsAddress(t *testing.T) {
	own := func(d string) bool { return d == "corp.lan" || d == "example.org" }
	for _, v := range []string{
		"\"ceo@bank.corn\" <a@evil.test>",        // rn for m
		"\"ceo@bank.c0m\" <a@evil.test>",         // zero for o
		"\"ceo@corp.Ian\" <a@evil.test>",         // capital I for l: own corp.lan
		"\"ceo@c0rp.lan\" <a@evil.test>",         // own corp.lan, zero for o
		"\"it@paypal.com-verify\" <a@evil.test>", // a TLD then hyphen-joined junk
		"\"it@corp.lan-it\" <a@evil.test>",       // own domain then hyphen-joined junk
	} {
		if _, err := MailboxesOwn(v, own); err == nil {
			t.Errorf("MailboxesOwn(%q) accepted; it shows a look-alike of bank.com's / the own domain's address", v)
		}
	}
}
