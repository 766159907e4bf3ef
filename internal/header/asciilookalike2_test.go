package header

import "testing"

// EDGE-1 (final reread of ae7dcc8a, F1): a look-alike with a trailing
// digit, and one imitating a letter of an own domain that holds another
// look-alike sequence, show an address.
func TestASCIILookAlikeSpoofsWithDigitsOrOwnLetters(t *testing.T) {
	own := func(d string) bool {
		return d == "corp.lan" || d == "learn.lan" || d == "site1.lan" || d == "western.corp"
	}
	for _, v := range []string{
		"\"ceo@corp.Ian1\" <a@evil.test>",     // corp.lan1 is refused; with capital I it passes
		"\"ceo@bank.corn1\" <a@evil.test>",    // bank.com1 is refused; with rn it passes
		"\"ceo@bank.c0m1\" <a@evil.test>",     // bank.com1 is refused; with zero it passes
		"\"ceo@Iearn.lan\" <a@evil.test>",     // own learn.lan: the fold turns its own rn into m
		"\"ceo@site1.Ian\" <a@evil.test>",     // own site1.lan: the fold turns its own 1 into l
		"\"ceo@vvestern.corp\" <a@evil.test>", // own western.corp
	} {
		if _, err := MailboxesOwn(v, own); err == nil {
			t.Errorf("MailboxesOwn(%q) accepted; it shows a look-alike of bank.com / an own domain", v)
		}
	}
}

// EDGE-1 (final reread of ae7dcc8a, F2): host names in a display name
// stay prose — a digit in a top label of two characters is not folded
// (n1 is no nl), and a hyphen cut leaving two letters is no cut
// (us-east is no us).
func TestASCIIReadingsKeepHostNamesProse(t *testing.T) {
	for _, v := range []string{
		"\"Ops @ db.n1\" <a@b.test>",             // n1 -> nl (Netherlands)
		"\"Ops @ prod.s1\" <a@b.test>",           // s1 -> sl
		"\"Build @ ci.a1\" <a@b.test>",           // a1 -> al
		"\"Ops @ node.c0\" <a@b.test>",           // c0 -> co
		"\"Alerts @ prod.us-east\" <a@b.test>",   // us-east cut to us
		"\"Alerts @ prod.eu-west-1\" <a@b.test>", // eu-west-1 cut to eu
	} {
		if _, err := MailboxesOwn(v, nil); err != nil {
			t.Errorf("MailboxesOwn(%q) refused: %v", v, err)
		}
	}
}
