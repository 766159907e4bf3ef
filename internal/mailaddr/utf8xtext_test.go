package mailaddr

import "testing"

// SMTP-1, RFC 6533 §3: the two forms of a utf-8 ORCPT address.
func TestUTF8AddrXtext(t *testing.T) {
	for _, tc := range []struct{ in, xtext, unitext string }{
		{"a@b.test", "a@b.test", "a@b.test"},
		{"a\u00e9@b.test", `a\x{E9}@b.test`, "a\u00e9@b.test"},
		{"p+1=2@b.test", `p\x{2B}1\x{3D}2@b.test`, `p\x{2B}1\x{3D}2@b.test`},
		{`"a\\b c"@b.test`, `"a\x{5C}\x{5C}b\x{20}c"@b.test`, `"a\x{5C}\x{5C}b\x{20}c"@b.test`},
		{"\u4e2d@b.test", `\x{4E2D}@b.test`, "\u4e2d@b.test"},
		{"\U0001F600@b.test", `\x{1F600}@b.test`, "\U0001F600@b.test"},
		{"a\x01@b", `a\x{01}@b`, `a\x{01}@b`},
		{"a\u0085\u00a0@b", `a\x{85}\x{A0}@b`, "a\\x{85}\u00a0@b"},
		{"a\xff\xfe@b", `a\x{FFFD}@b`, "a\ufffd@b"},
	} {
		if got := UTF8AddrXtext(tc.in, false); got != tc.xtext {
			t.Errorf("xtext %q = %q, want %q", tc.in, got, tc.xtext)
		}
		if got := UTF8AddrXtext(tc.in, true); got != tc.unitext {
			t.Errorf("unitext %q = %q, want %q", tc.in, got, tc.unitext)
		}
	}
}
