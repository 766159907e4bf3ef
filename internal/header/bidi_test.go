package header

import (
	"strings"
	"testing"
)

// rt22b M2: an explicit bidi embedding, override or isolate (U+202A–
// U+202E, U+2066–U+2069) makes a reader show a text in another order
// than it is written ("\u202egro.elpmaxe @ oec" shows as
// "ceo @ example.org"). No ordinary name needs one (Hebrew and Arabic
// letters carry their own direction), so a display name or comment
// holding one, as written or decoded from an encoded word, is refused.
// Hebrew and Arabic names, with the implicit marks U+200E/U+200F/U+061C
// too, pass.
func TestMailboxesBidiControls(t *testing.T) {
	for _, v := range []string{
		"\"\u202egro.elpmaxe @ oec\" <a@evil.test>",
		"\"\u202egro.elpmaxe@ oec\" <a@evil.test>",
		"\"\u202egro.elpmaxe @oec\" <a@evil.test>",
		"\"\u202egro.elpmaxe\u00a0@\u00a0oec\" <a@evil.test>",
		"\"\u202egro.elpmaxe @ oec\u202c via Support\" <a@evil.test>",
		"a@evil.test (\u202egro.elpmaxe @ oec)",
		"=?utf-8?q?=E2=80=AEgro.elpmaxe_=40_oec?= <a@evil.test>",
		"=?utf-8?b?4oCuZ3JvLmVscG1heGUgQCBvZWM=?= <a@evil.test>",
		"\u202egro.elpmaxe oec <a@evil.test>",
		"\"\u202aSupport\" <a@evil.test>", "\"\u202bSupport\" <a@evil.test>", "\"\u202dSupport\" <a@evil.test>",
		"\"\u2066Support\u2069\" <a@evil.test>", "\"\u2067Support\u2069\" <a@evil.test>", "\"\u2068Support\u2069\" <a@evil.test>",
		"a@evil.test (=?utf-8?q?=E2=81=A7x=E2=81=A9?=)",
	} {
		_, err := Mailboxes(v)
		if err == nil || !strings.Contains(err.Error(), "bidi") {
			t.Errorf("Mailboxes(%q) = %v, want a refusal naming the bidi control", v, err)
		}
	}
	for _, v := range []string{
		"\"\u05d3\u05d5\u05d3 \u05db\u05d4\u05df\" <a@evil.test>",       // דוד כהן
		"\"\u0645\u062d\u0645\u062f \u0639\u0644\u064a\" <a@evil.test>", // محمد علي
		"\"\u05d3\u05d5\u05d3 \u05db\u05d4\u05df\u200e (IT)\" <a@evil.test>",
		"\"\u0645\u062d\u0645\u062f\u061c \u0639\u0644\u064a\u200f\" <a@evil.test>",
		"=?utf-8?b?15PXldeTINeb15TXnw==?= <a@evil.test>",
		"a@evil.test (\u05d3\u05d5\u05d3)",
	} {
		if got, err := Mailboxes(v); err != nil || len(got) != 1 || got[0].Domain != "evil.test" {
			t.Errorf("Mailboxes(%q) = %v, %v, want a@evil.test", v, got, err)
		}
	}
}

// rt22b L4, judged: these show text a reader can take for an address,
// and stay refused. Only the dot right before a word with an apostrophe
// is prose ("Bob @ St. Mary's"); reading a chain of such dots as prose
// would let "ceo @ bank. test. Jo's" (bank.test) through too. Without
// white space an '@' between two words is an address as written, one
// label or not: a one-label name is a host in many a network, and a
// reader shows "Team@Acme" as an address.
func TestMailboxesJudgedRefusals(t *testing.T) {
	for _, v := range []string{
		"\"Events @ Mt. St. Helen's\" <a@evil.test>",
		"\"ceo @ bank. test. Jo's\" <a@evil.test>",
		"\"Team@Acme\" <a@evil.test>",
		"\"jane.doe@home\" <a@evil.test>",
		"\"Price list@shop\" <a@evil.test>",
	} {
		if _, err := Mailboxes(v); err == nil || !strings.Contains(err.Error(), "shows an address") {
			t.Errorf("Mailboxes(%q) = %v, want refused as showing an address", v, err)
		}
	}
	for _, v := range []string{"\"Events @ St. Helen's\" <a@evil.test>", "\"Meet @ noon\" <a@evil.test>", "\"Team @ Acme\" <a@evil.test>"} {
		if _, err := Mailboxes(v); err != nil {
			t.Errorf("Mailboxes(%q) = %v, want one author", v, err)
		}
	}
}
