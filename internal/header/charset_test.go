package header

import "testing"

// The charsets decoded by hand (rt20b-F1): UTF-7 (RFC 2152), UTF-16
// (RFC 2781) and UTF-32, with and without a byte order mark.
func TestDecodeCharset(t *testing.T) {
	for _, c := range []struct {
		charset, in, want string
		alt, twoWays      bool
	}{
		{"utf-7", "ceo+AEA-bank.test", "ceo@bank.test", false, false},
		{"UTF-7", "a+-b+AOk.", "a+bé.", false, false},
		{"utf-7", "+2D3eAA-", "\U0001F600", false, false},
		{"utf-16", "\xfe\xff\x00a\x00@", "a@", false, false},
		{"utf-16", "\xff\xfea\x00@\x00", "a@", false, false},
		{"utf-16", "\x00a\x00@", "a@", false, true},
		{"utf-16", "a\x00@\x00", "a@", true, true},
		{"utf-16be", "\x00a\x00", "a\uFFFD", false, false},
		{"utf-16le", "\x00\xd8", "\uFFFD", false, false},
		{"utf-32", "\x00\x00\xfe\xff\x00\x00\x00a", "a", false, false},
		{"utf-32", "a\x00\x00\x00", "a", true, true},
		{"utf-32be", "\x00\x11\x00\x00", "\uFFFD", false, false},
		{"iso-8859-1", "J\xf6rg", "Jörg", false, false},
		{"utf-8*de", "J\xc3\xb6rg", "Jörg", false, false},
	} {
		got, known, two := decodeCharset(c.charset, []byte(c.in), c.alt)
		if got != c.want || !known || two != c.twoWays {
			t.Errorf("decodeCharset(%q, %q, %v) = %q %v %v, want %q true %v", c.charset, c.in, c.alt, got, known, two, c.want, c.twoWays)
		}
	}
	for _, cs := range []string{"x-klingon", "iso-2022-kr", ""} {
		if _, known, _ := decodeCharset(cs, []byte("a@b"), false); known {
			t.Errorf("decodeCharset(%q) known", cs)
		}
	}
}
