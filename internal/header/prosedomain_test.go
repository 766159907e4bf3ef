package header

import "testing"

// TestShownDomainWithoutTopLevelDomainIsProse (rt24b F4): a shown
// domain of several labels whose top label is no top-level domain (no
// ICANN one, none reserved for special use) names no domain, as a
// one-label one already did ("Team@Acme"): "Sales @ St. Louis" passes.
// One that does still shows an address ("ceo @ bank . com", "ceo @
// bank.test", "hr@corp.internal"), and so does one of the
// organisation's own domains, or a subdomain of one, whatever its top
// label (MailboxesOwn) — also written with a look-alike dot or in
// fullwidth letters.
func TestShownDomainWithoutTopLevelDomainIsProse(t *testing.T) {
	for _, v := range []string{
		`"Sales @ St. Louis" <a@evil.test>`,
		`"Lunch @ Ft. Worth" <a@evil.test>`,
		`"Events @ Mt. Hood" <a@evil.test>`,
		`"Alerts @ prod.db" <a@evil.test>`,
		`a@evil.test (Sales @ St. Louis)`,
		`=?utf-8?q?Alerts_=40_prod.db?= <a@evil.test>`,
	} {
		if _, err := MailboxesOwn(v, func(d string) bool { return d == "example.org" }); err != nil {
			t.Errorf("MailboxesOwn(%q): %v, want accepted", v, err)
		}
	}
	own := func(d string) bool { return d == "corp.lan" || d == "prod.db" }
	for v, at := range map[string]string{
		`"ceo @ bank . com" <a@evil.test>`:             "ceo@bank.com",
		`"hr@corp.internal" <a@evil.test>`:             "hr@corp.internal",
		`"Events @ Mt. St. example.com" <a@evil.test>`: "Events@Mt.St.example.com",
		`"ceo @ corp.lan" <a@evil.test>`:               "ceo@corp.lan",
		`"ceo@hr.corp.lan" <a@evil.test>`:              "ceo@hr.corp.lan",
		"\"ceo@corp\ua4f8lan\" <a@evil.test>":          "ceo@corp.lan",
		"\"ceo@ＣＯＲＰ.ＬＡＮ\" <a@evil.test>":               "ceo@CORP.LAN",
		`"Alerts @ prod.db" <a@evil.test>`:             "Alerts@prod.db",
		`a@evil.test (ceo@corp.lan)`:                   "ceo@corp.lan",
		`=?utf-8?q?ceo=40corp.lan?= <a@evil.test>`:     "ceo@corp.lan",
		"\"ceo@bank.com\u0661\" <a@evil.test>":         "ceo@bank.com\u0661",
	} {
		_, err := MailboxesOwn(v, own)
		me, ok := err.(*MailboxError)
		if !ok || me.At != at {
			t.Errorf("MailboxesOwn(%q) = %v, want an error at %q", v, err, at)
		}
	}
	// The author's own domain shown stays the author's.
	if _, err := MailboxesOwn(`"ceo@corp.lan" <ceo@corp.lan>`, own); err != nil {
		t.Errorf("own address shown by its author: %v", err)
	}
}
