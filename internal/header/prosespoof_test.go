package header

import "testing"

// TestProseRuleLetsNoSpoofThrough (EDGE-1; rr25 F1, F2 of front24,
// 5d39648b): every
// display name below shows, to a reader, an address of bank.com or of
// the organisation's own corp.lan / example.org; each was refused before
// front24 (a dotted shown domain was an address whatever its top label)
// and was accepted after it, because namesDomain/isOwn read the top
// label as written: a look-alike letter (F1), or junk a reader sets
// apart after the domain (F2), made it "no TLD", hence prose. Each is
// refused again.
func TestProseRuleLetsNoSpoofThrough(t *testing.T) {
	own := func(d string) bool { return d == "corp.lan" || d == "example.org" }
	for _, v := range []string{
		// F1: look-alike letters in the top label (or any label of an own domain).
		"\"ceo@bank.\u0441om\" <a@evil.test>",    // Cyrillic es: bank.сom
		"\"ceo@bank.c\u03bfm\" <a@evil.test>",    // Greek omicron
		"\"ceo@bank.\u1d04om\" <a@evil.test>",    // small capital C
		"\"ceo@example.\u043erg\" <a@evil.test>", // own domain, Cyrillic o
		"\"ceo@corp.l\u0430n\" <a@evil.test>",    // own corp.lan, Cyrillic a
		"\"ceo@\u0441orp.lan\" <a@evil.test>",    // own corp.lan, Cyrillic es in the second label
		"\"ceo@corp.l\u0131n\" <a@evil.test>",    // own corp.lan, dotless i
		// F2: junk after the domain a reader sets apart.
		"\"ceo@bank.com-\" <a@evil.test>",
		"\"ceo@bank.com1\" <a@evil.test>",
		"\"ceo@corp.lan\u0661\" <a@evil.test>", // the RTL-digit case namesDomain handles for TLDs only
		"\"ceo@corp.lan-\" <a@evil.test>",
		"\"ceo@corp.lan.x1\" <a@evil.test>",
		"\"ceo@example.org.zz\" <a@evil.test>",
		"\"service@paypal.com.verify\" <a@evil.test>",
	} {
		if _, err := MailboxesOwn(v, own); err == nil {
			t.Errorf("MailboxesOwn(%q) accepted; it shows a look-alike of another/own domain's address", v)
		}
	}
}

// TestProseStaysProse (EDGE-1; rr25 F1, F2): what the readings of
// showsDomain leave prose — a dotted shown domain all ASCII whose top
// label, and the domain before it while it has two labels, name
// nothing; one label that is no top-level domain; an international name
// around an '@' whose shown domain is ASCII — and the cost they accept:
// a dotted shown domain with another script's letter is an address,
// "Café @ Mt. Zürich" is refused.
func TestProseStaysProse(t *testing.T) {
	own := func(d string) bool { return d == "corp.lan" || d == "example.org" }
	for _, v := range []string{
		"\"Team@Acme\" <a@evil.test>",
		"\"Sales @ St. Louis\" <a@evil.test>",
		"\"Events @ Mt. St. Helen's\" <a@evil.test>",
		"\"Events @ Mt. Hood\" <a@evil.test>",
		"\"Alerts @ prod.db\" <a@evil.test>",
		"\"Alerts @ prod.db2\" <a@evil.test>",
		"\"Jörg Müller @ St. Louis\" <a@evil.test>",
		"\"Team@Zürich\" <a@evil.test>",
		"\"山田@会社\" <a@evil.test>",
		"Jörg Müller <a@evil.test>",
	} {
		if _, err := MailboxesOwn(v, own); err != nil {
			t.Errorf("MailboxesOwn(%q): %v, want accepted", v, err)
		}
	}
	for v, at := range map[string]string{
		"\"Café @ Mt. Zürich\" <a@evil.test>":         "Café@Mt.Zürich",
		"\"service@paypal.com.verify\" <a@evil.test>": "service@paypal.com.verify",
		"\"ceo@bank.com1\" <a@evil.test>":             "ceo@bank.com1",
		"\"ceo @ example . org . zz\" <a@evil.test>":  "ceo@example.org.zz",
	} {
		_, err := MailboxesOwn(v, own)
		if me, ok := err.(*MailboxError); !ok || me.At != at {
			t.Errorf("MailboxesOwn(%q) = %v, want an error at %q", v, err, at)
		}
	}
}
