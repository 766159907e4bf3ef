package mailaddr

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestFoldASCIIOnly(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Alice@Example.TEST", "alice@example.test"},
		{"\u212Aelvin@example.test", "\u212Aelvin@example.test"}, // KELVIN SIGN stays
		{"STRA\u1E9EE@x.test", "stra\u1E9Ee@x.test"},             // CAPITAL SHARP S stays
		{"\u0130@x.test", "\u0130@x.test"},                       // dotted capital I stays
		{"po\u017Ftmaster", "po\u017Ftmaster"},                   // LONG S stays
		{"\u00C9COLE@x.test", "\u00C9cole@x.test"},               // É stays, ASCII folds
		{"", ""},
	} {
		if got := Fold(tc.in); got != tc.want {
			t.Errorf("Fold(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	for _, tc := range []struct {
		a, b string
		eq   bool
	}{
		{"KELVIN@x", "kelvin@x", true},
		{"\u212Aelvin@x", "kelvin@x", false},
		{"po\u017Ftmaster", "postmaster", false},
		{"stra\u00DFe", "STRA\u1E9EE", false},
		{"\u0131", "I", false}, // dotless i
		{"a", "ab", false},
	} {
		if got := EqualFold(tc.a, tc.b); got != tc.eq {
			t.Errorf("EqualFold(%q, %q) = %v", tc.a, tc.b, got)
		}
	}
}

// FuzzFold: Fold changes ASCII capitals only (length, every other byte
// and valid UTF-8 kept), is idempotent, and EqualFold is equality of
// Fold; Fold agrees with strings.ToLower on ASCII input.
func FuzzFold(f *testing.F) {
	for _, s := range []string{"Alice@Example.TEST", "\u212Aelvin@x", "STRA\u1E9EE", "po\u017Ftmaster", "\xff\xfeA"} {
		f.Add(s, strings.ToLower(s))
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		fa := Fold(a)
		if len(fa) != len(a) || Fold(fa) != fa {
			t.Fatalf("Fold(%q) = %q", a, fa)
		}
		for i := 0; i < len(a); i++ {
			if c := a[i]; !('A' <= c && c <= 'Z') && fa[i] != c {
				t.Fatalf("Fold(%q) changed byte %d", a, i)
			}
		}
		if utf8.ValidString(a) != utf8.ValidString(fa) {
			t.Fatalf("Fold(%q) changed UTF-8 validity", a)
		}
		if EqualFold(a, b) != (Fold(a) == Fold(b)) {
			t.Fatalf("EqualFold(%q, %q) disagrees with Fold", a, b)
		}
		ascii := true
		for i := 0; i < len(a); i++ {
			ascii = ascii && a[i] < 0x80
		}
		if ascii && fa != strings.ToLower(a) {
			t.Fatalf("Fold(%q) = %q, strings.ToLower %q", a, fa, strings.ToLower(a))
		}
	})
}

// A recipient of a domain this organisation only relays to keeps its
// local part exact in a recipient set; its domain, and an owned
// domain's whole address, compare by AddrKey's rule (rt17b-F2).
func TestRcptKey(t *testing.T) {
	for _, c := range []struct {
		a, b  string
		owned bool
		same  bool
	}{
		{"TD@good.test", "td@good.test", false, false},
		{"TD@good.test", "td@good.test", true, true},
		{"td@GOOD.test", "td@good.test", false, true},
		{"Anna@BÜCHER.test", "anna@xn--bcher-kva.test", false, false},
		{"anna@BÜCHER.test", "anna@xn--bcher-kva.test", false, true},
		{"Anna@BÜCHER.test", "anna@xn--bcher-kva.test", true, true},
		{"JÖRG@example.org", "jörg@example.org", true, false},
	} {
		if got := RcptKey(c.a, c.owned) == RcptKey(c.b, c.owned); got != c.same {
			t.Errorf("RcptKey(%q, %v) == RcptKey(%q, %v): %v, want %v", c.a, c.owned, c.b, c.owned, got, c.same)
		}
	}
}
