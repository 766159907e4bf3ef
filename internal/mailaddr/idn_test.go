package mailaddr

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

// A domain's comparison key is one for all its spellings: a U-label
// (bücher.example, in any case) and its A-label (xn--bcher-kva.example,
// in any case) are the same domain. ASCII labels that are no A-label
// keep Fold's rule — "ab--c" and "_dmarc" stay as they are, as DNS
// takes them. An internationalised label that IDNA refuses is an error.
func TestDomainIDN(t *testing.T) {
	for _, c := range []struct{ in, want, err string }{
		{"bücher.example", "xn--bcher-kva.example", ""},
		{"BÜCHER.Example", "xn--bcher-kva.example", ""},
		{"xn--bcher-kva.example", "xn--bcher-kva.example", ""},
		{"XN--BCHER-KVA.EXAMPLE", "xn--bcher-kva.example", ""},
		{"*.bücher.example", "*.xn--bcher-kva.example", ""},
		{"例え.テスト", "xn--r8jz45g.xn--zckzah", ""},
		{"Example.ORG", "example.org", ""},
		{"ab--c.example", "ab--c.example", ""},
		{"_dmarc.bücher.example", "_dmarc.xn--bcher-kva.example", ""},
		{"xn--zz.example", "", "xn--zz"},
		{"bü_cher.example", "", "bü_cher"},
		{"\u200d.example", "", `"\u200d"`},
		{"b\xffcher.example", "", "b\\xffcher"},
		// IDNA 2008 disallows a character that only stands for an ASCII
		// one (UTS #46 maps KELVIN SIGN and full-width letters to them):
		// such a domain is refused, never taken as the ASCII domain.
		{"\u212Aiosk.test", "", "U+212A"},
		{"\uFF4Biosk.test", "", "U+FF4B"},
		{"b\u00FCcher-\u212A.example", "", "U+212A"},
	} {
		got, err := Domain(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("Domain(%q) = %q, %v; want an error naming %q", c.in, got, err, c.err)
			}
			if k := DomainKey(c.in); k != Fold(c.in) {
				t.Errorf("DomainKey(%q) = %q; an invalid domain keeps Fold's key", c.in, k)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("Domain(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	if AddrKey("Anna@BÜCHER.example") != "anna@xn--bcher-kva.example" || AddrKey("Anna@xn--BCHER-kva.example") != "anna@xn--bcher-kva.example" {
		t.Errorf("AddrKey: %q %q", AddrKey("Anna@BÜCHER.example"), AddrKey("Anna@xn--BCHER-kva.example"))
	}
	if AddrKey("Ünal@example.org") != "Ünal@example.org" {
		t.Errorf("AddrKey folds a non-ASCII local part: %q", AddrKey("Ünal@example.org"))
	}
}

// The normaliser takes anyone's text (an SMTPUTF8 recipient's domain):
// it never panics, a key it gives is ASCII for a domain it accepts and
// is its own key (idempotent), an accepted domain's key is accepted, and
// an ASCII domain without an A-label keys as Fold gives it.
func FuzzDomain(f *testing.F) {
	for _, s := range []string{"bücher.example", "XN--BCHER-KVA.example", "xn--zz", "a..b", "*.x", "", ".", "\xff", "ß.de", "ab--c", "xn--", "例え.テスト"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k := DomainKey(s)
		got, err := Domain(s)
		if err != nil {
			if k != Fold(s) {
				t.Fatalf("invalid %q keyed %q, not as Fold", s, k)
			}
			return
		}
		if got != k {
			t.Fatalf("Domain(%q) = %q, DomainKey %q", s, got, k)
		}
		for i := 0; i < len(got); i++ {
			if got[i] >= utf8.RuneSelf || 'A' <= got[i] && got[i] <= 'Z' {
				t.Fatalf("Domain(%q) = %q: not lower-case ASCII", s, got)
			}
		}
		if again, err := Domain(got); err != nil || again != got {
			t.Fatalf("Domain(%q) = %q, but Domain(%q) = %q, %v", s, got, got, again, err)
		}
		ascii := true
		for i := 0; i < len(s); i++ {
			ascii = ascii && s[i] < utf8.RuneSelf
		}
		if ascii && !strings.Contains(Fold(s), "xn--") && got != Fold(s) {
			t.Fatalf("ASCII %q keyed %q, not as Fold", s, got)
		}
	})
}

// AddrForms gives the forms a store written by someone else (a
// directory) may hold an address in: as given, with its domain as the
// A-label, and as the U-label; one form for an ASCII domain or a name
// IDNA refuses.
func TestAddrForms(t *testing.T) {
	for in, want := range map[string]string{
		"anna@BÜCHER.example":        "[anna@BÜCHER.example anna@xn--bcher-kva.example anna@bücher.example]",
		"anna@xn--bcher-kva.example": "[anna@xn--bcher-kva.example anna@bücher.example]",
		"Anna@XN--BCHER-KVA.example": "[Anna@XN--BCHER-KVA.example Anna@xn--bcher-kva.example Anna@bücher.example]",
		"anna@bücher.example":        "[anna@bücher.example anna@xn--bcher-kva.example]",
		"Kim@Example.org":            "[Kim@Example.org]",
		"kim@\u212aiosk.example":     "[kim@\u212aiosk.example]",
		"kiosk.example":              "[kiosk.example]",
		"bücher.example":             "[bücher.example xn--bcher-kva.example]",
	} {
		if got := fmt.Sprint(AddrForms(in)); got != want {
			t.Errorf("AddrForms(%q) = %s, want %s", in, got, want)
		}
	}
}
