package header

import "testing"

// rr23 F1 (bidi23, boundary neutrals): a boundary neutral (U+00AD, U+200B, U+200D, U+2060, U+FEFF: UAX #9
// X9 removes them) is read as an ON neutral by bidiLevels, which splits a
// Latin word from an Arabic-Indic digit in a right-to-left paragraph. ICU
// (ubidi, paragraph level 1) lays this name out as
// "ceo @\u200f bank .\u200f test\u00ad\u0661": ceo@bank.test١, the same text
// that, written in that order, is refused.
func TestBoundaryNeutralVisualOrder(t *testing.T) {
	written := "\"ceo @ bank . test\u0661\" <a@x.test>"
	if _, err := Mailboxes(written); err == nil {
		t.Fatalf("%q accepted", written)
	}
	for _, name := range []string{
		"test\u00ad\u0661 \u200f. bank \u200f@ ceo",
		"test\u200b\u0661 \u200f. bank \u200f@ ceo",
		"test\u200d\u0661 \u200f. bank \u200f@ ceo",
		"test\u200c\u0661 \u200f. bank \u200f@ ceo",
		"test\u2060\u0661 \u200f. bank \u200f@ ceo",
		"test\ufeff\u0661 \u200f. bank \u200f@ ceo",
		"test\u180e\u0661 \u200f. bank \u200f@ ceo",
	} {
		v := "\"" + name + "\" <a@x.test>"
		if _, err := Mailboxes(v); err == nil {
			t.Errorf("%+q accepted; visualOrders gives %+q, UAX #9 (X9, N1) shows \"ceo @ bank . test\u0661\" in a right-to-left paragraph", v, visualOrders(name))
		}
	}
	// The same name in a comment and in an encoded word.
	for _, v := range []string{
		"a@x.test (test\u00ad\u0661 \u200f. bank \u200f@ ceo)",
		"=?utf-8?q?test=C2=AD=D9=A1_=E2=80=8F._bank_=E2=80=8F=40_ceo?= <a@x.test>",
	} {
		if _, err := Mailboxes(v); err == nil {
			t.Errorf("%+q accepted", v)
		}
	}
}
