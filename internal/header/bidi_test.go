package header

import (
	"fmt"
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
// too, pass (the marks are read in the visual order: below).
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

// rt22b L4, judged again in bidi23 (4), EDGE-1: a display name shows an
// address of another domain only where a reader can take its text for
// one. A chain of abbreviations before a word with an apostrophe is
// prose ("Events @ Mt. St. Helen's": each a capital letter and at most
// two small ones), and one label after an '@' that is no top-level
// domain names no domain on the internet ("Team@Acme", "jane.doe@home":
// DMARC protects none, no sender aligns with one): both pass. Still
// refused, as text a reader takes for an address: "ceo @ bank. test.
// Jo's" (words that are no abbreviations: a domain's labels with white
// space set aside), a chain that ends in a domain, and one label that is
// a top-level domain taking mail itself ("n@ai", "Price list@shop",
// "ceo@bank").
func TestMailboxesJudgedRefusals(t *testing.T) {
	for v, at := range map[string]string{
		"\"ceo @ bank. test. Jo's\" <a@evil.test>":       "ceo@bank.test",
		"\"ceo @ Bank. Test. Jo's\" <a@evil.test>":       "ceo@Bank.Test",
		"\"ceo @ paypal. com. Jo's\" <a@evil.test>":      "ceo@paypal.com",
		"\"ceo @ Mt. example. Jo's\" <a@evil.test>":      "ceo@Mt.example",
		"\"Events @ Mt. St. example.com\" <a@evil.test>": "Events@Mt.St.example.com",
		"\"Price list@shop\" <a@evil.test>":              "list@shop",
		"\"n@ai\" <a@evil.test>":                         "n@ai",
		"\"ceo@Bank\" <a@evil.test>":                     "ceo@Bank",
		"\"n@\u034fai\" <a@evil.test>":                   "n@\u034fai",
		"\"n@\u200fai\u200f\" <a@evil.test>":             "n@\u200fai",
		"\"n@\u200b\uff41\uff49\" <a@evil.test>":         "n@\u200bai",
		"\"ceo@\u0440\u0444\" <a@evil.test>":             "ceo@\u0440\u0444",
		"\"ceo@example.org\" <a@evil.test>":              "ceo@example.org",
		"\"ceo @ example . org\" <a@evil.test>":          "ceo@example.org",
	} {
		_, err := Mailboxes(v)
		me, ok := err.(*MailboxError)
		if !ok || !strings.Contains(me.Why, "shows an address") || me.At != at {
			t.Errorf("Mailboxes(%q) = %#v, want refused as showing %q", v, err, at)
		}
	}
	for _, v := range []string{
		"\"Events @ Mt. St. Helen's\" <a@evil.test>",
		"\"Jo @ Ft. Mt. Jo\u2019s\" <a@evil.test>",
		"\"Events @ St. Helen's\" <a@evil.test>",
		"\"Meet @ noon\" <a@evil.test>",
		"\"Team @ Acme\" <a@evil.test>",
		"\"Team@Acme\" <a@evil.test>",
		"\"jane.doe@home\" <a@evil.test>",
		"\"Sales@Acme Corp\" <a@evil.test>",
		"=?utf-8?q?Team=40Acme?= <a@evil.test>",
		"a@evil.test (Team@Acme)",
	} {
		if _, err := Mailboxes(v); err != nil {
			t.Errorf("Mailboxes(%q) = %v, want one author", v, err)
		}
	}
}

// bidi23 (1), EDGE-1: the implicit marks reorder too. U+200F (RLM) and
// U+061C (ALM) are right-to-left characters: between Latin words, in a
// right-to-left paragraph (one whose first strong character is the mark,
// as a reader taking the direction from the text sets it, or a reader
// whose own direction is right to left), they put each word to the left
// of the one before: "RLM org RLM . RLM example RLM @ RLM ceo" shows
// "ceo @ example . org", an address the written order does not hold. A
// name holding a right-to-left character is read in its visual orders
// too (UAX #9), as written, in encoded words (B and Q, UTF-8, UTF-16,
// windows-1255, ISO-8859-8, windows-1256) and raw; U+200E (LRM) moves
// the neutrals around it. Hebrew and Arabic names, marks and all, still
// pass: their visual order shows no address of another domain.
func TestMailboxesBidiMarksVisualOrder(t *testing.T) {
	for _, v := range []string{
		"\"\u200forg \u200f. \u200fexample \u200f@ \u200fjdoe\" <a@evil.test>",
		"\"\u200forg\u200f.\u200fexample\u200f@\u200fjdoe\" <a@evil.test>",
		"\"\u061corg \u061c. \u061cexample \u061c@ \u061cjdoe\" <a@evil.test>",
		"\"\u061corg\u061c.\u061cexample\u061c@\u061cjdoe\" <a@evil.test>",
		"\"example.org \u200f@\u200e jdoe\" <a@evil.test>",
		"\"\u200eexample.org \u200f@\u200e jdoe\" <a@evil.test>",
		"\"\u05d3\u05d5\u05d3 \u200forg\u200f.\u200fexample\u200f@\u200fjdoe\" <a@evil.test>",
		"=?utf-8?q?=E2=80=8Forg_=E2=80=8F._=E2=80=8Fexample_=E2=80=8F=40_=E2=80=8Fjdoe?= <a@evil.test>",
		"=?utf-8?b?4oCPb3Jn4oCPLuKAj2V4YW1wbGXigI9A4oCPamRvZQ==?= <a@evil.test>",
		"=?utf-8?q?=D8=9Corg_=D8=9C._=D8=9Cexample_=D8=9C=40_=D8=9Cjdoe?= <a@evil.test>",
		"=?utf-16be?b?IA8AbwByAGcAICAPAC4AICAPAGUAeABhAG0AcABsAGUAICAPAEAAICAPAGoAZABvAGU=?= <a@evil.test>",
		"=?windows-1255?q?=FEorg_=FE._=FEexample_=FE=40_=FEjdoe?= <a@evil.test>",
		"=?iso-8859-8?q?=FEorg_=FE._=FEexample_=FE=40_=FEjdoe?= <a@evil.test>",
		"=?windows-1256?q?=FEorg_=FE._=FEexample_=FE=40_=FEjdoe?= <a@evil.test>",
		"=?utf-8?q?=E2=80=8Forg_=E2=80=8F.?= =?utf-8?q?_=E2=80=8Fexample_=E2=80=8F=40_=E2=80=8Fjdoe?= <a@evil.test>",
	} {
		_, err := Mailboxes(v)
		me, ok := err.(*MailboxError)
		if !ok || !strings.Contains(me.Why, "shows an address") || !strings.Contains(strings.Map(dropMarks, me.At), "jdoe@example.org") {
			t.Errorf("Mailboxes(%q) = %#v, want refused as showing jdoe@example.org", v, err)
		}
	}
	for _, v := range []string{
		"\"\u05d3\u05d5\u05d3 \u05db\u05d4\u05df\u200f\" <a@evil.test>",
		"\"\u05d3\u05d5\u05d3 \u05db\u05d4\u05df\u200e (IT)\" <a@evil.test>",
		"\"\u0645\u062d\u0645\u062f\u061c \u0639\u0644\u064a \u0662\u0663 Sales\" <a@evil.test>",
		"\"\u200fa@evil.test \u05d3\u05d5\u05d3\" <a@evil.test>", // its own address
		"\"\u05d3\u05d5\u05d3 @ \u05db\u05d4\u05df\" <a@evil.test>",
		"\"\u200forg \u200f. \u200fexample\" <a@evil.test>",       // no '@'
		"=?windows-1255?q?=E3=E5=E3_=EB=E4=EF=FE?= <a@evil.test>", // דוד כהן RLM
	} {
		if got, err := Mailboxes(v); err != nil || len(got) != 1 || got[0].Domain != "evil.test" {
			t.Errorf("Mailboxes(%q) = %v, %v, want a@evil.test", v, got, err)
		}
	}
}

func dropMarks(r rune) rune {
	if r == '\u200e' || r == '\u200f' || r == '\u061c' {
		return -1
	}
	return r
}

// bidi23 (1): every explicit embedding, override and isolate, alone (a
// PDF or PDI closes what a reader may have opened before the name), and
// in encoded words of other charsets than UTF-8 (UTF-16 with and without
// a byte order mark, UTF-7), in a display name or a comment: refused,
// naming the control.
func TestMailboxesBidiControlsEveryForm(t *testing.T) {
	for _, r := range []rune{0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069} {
		for _, v := range []string{
			"\"Support" + string(r) + "\" <a@evil.test>",
			"a@evil.test (x" + string(r) + ")",
		} {
			_, err := Mailboxes(v)
			if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("U+%04X", r)) {
				t.Errorf("Mailboxes(%q) = %v, want a refusal naming U+%04X", v, err, r)
			}
		}
	}
	for _, v := range []string{
		"=?utf-16?b?/v8gLgBnAHIAbwAuAGUAbABwAG0AYQB4AGUAIABAACAAbwBlAGM=?= <a@evil.test>",
		"=?utf-16le?b?ZyB4AGkg?= <a@evil.test>",
		"=?utf-7?q?+IC4-gro.elpmaxe_=40_oec?= <a@evil.test>",
		"a@evil.test (=?utf-16?b?/v8gLgBnAHIAbwAuAGUAbABwAG0AYQB4AGUAIABAACAAbwBlAGM=?=)",
	} {
		_, err := Mailboxes(v)
		if err == nil || !strings.Contains(err.Error(), "bidi") {
			t.Errorf("Mailboxes(%q) = %v, want a refusal naming the bidi control", v, err)
		}
	}
}
