package mailaddr

import "testing"

// RFC 3461 §4: written with upper-case hex, read in either case; a
// malformed xtext is refused.
func TestXtext(t *testing.T) {
	if got := Xtext("a+b=c d\x01ü"); got != "a+2Bb+3Dc+20d+01+C3+BC" {
		t.Errorf("Xtext %q", got)
	}
	for _, in := range []string{"a+2Bb+3Dc", "a+2bb+3dc"} {
		if got, ok := DecodeXtext(in); !ok || got != "a+b=c" {
			t.Errorf("DecodeXtext(%q) = %q %v", in, got, ok)
		}
	}
	for _, bad := range []string{"a+4", "a+zz", "a=b", "a b", "a\x7f", "+g0"} {
		if got, ok := DecodeXtext(bad); ok {
			t.Errorf("DecodeXtext(%q) = %q, want refused", bad, got)
		}
	}
}

func FuzzXtext(f *testing.F) {
	f.Add("a+b=c d")
	f.Fuzz(func(t *testing.T, s string) {
		if back, ok := DecodeXtext(Xtext(s)); !ok || back != s {
			t.Fatalf("%q: back %q %v", s, back, ok)
		}
	})
}
