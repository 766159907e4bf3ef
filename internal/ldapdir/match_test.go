package ldapdir

import (
	"testing"

	"github.com/go-ldap/ldap/v3"

	"umbra/internal/mailaddr"
)

// The equality items holding %s are what a hit is verified against,
// with their literal parts (a proxyAddresses prefix, RFC 4515 escapes);
// substring, approximate and presence items are not.
func TestAssertionsAndMatches(t *testing.T) {
	as := Assertions(`(&(objectClass=user)(|(proxyAddresses=smtp:%s)(mail=%s)(cn=%s*)(sn~=%s)(x=a\2a%s)))`)
	if len(as) != 3 || as[0].attr != "proxyAddresses" || as[1].attr != "mail" || as[2].attr != "x" || as[2].parts[0] != "a*" {
		t.Fatalf("assertions %+v", as)
	}
	e := &ldap.Entry{Attributes: []*ldap.EntryAttribute{
		{Name: "proxyaddresses", Values: []string{"SMTP:Kim@Example.org", "smtp:k2@example.org"}},
		{Name: "mail;lang-en", Values: []string{" m@example.org "}},
		{Name: "x", Values: []string{"a*z@example.org"}},
	}}
	for v, want := range map[string]bool{
		"kim@example.org":       true,
		"KIM@EXAMPLE.ORG":       true,
		"\u212aim@example.org":  false,
		"k2@example.org":        true,
		"m@example.org":         true,
		"z@example.org":         true, // x=a*%s, the escaped star a literal
		"zz@example.org":        false,
		"smtp:kim@example.org":  false,
		"kim@example.org\u0131": false,
		" m@example.org":        false, // the entry's value is trimmed, the asked one is not
		"\u00a0k2@example.org":  false, // NO-BREAK SPACE is no space here (rt26 F1)
	} {
		if got := matches(e, as, v, mailaddr.Fold); got != want {
			t.Errorf("matches(%q) = %v, want %v", v, got, want)
		}
	}
}

// FuzzAssertions: no filter pattern or value makes the verification
// panic, and a value matches the entry built from the items when one of
// them, with the value in it, has no space the directory ignores
// (leading, trailing, doubled): with one, the asked address is another
// than the entry's, whose value is read with its spaces collapsed.
func FuzzAssertions(f *testing.F) {
	f.Add("(|(mail=%s)(cn=%s))", "kim@example.org")
	f.Add(`(x=\%s\2)`, "\u212a")
	f.Add("(mail=%s)", " kim@example.org")
	f.Fuzz(func(t *testing.T, pattern, value string) {
		as := Assertions(pattern)
		e := &ldap.Entry{}
		exact := false
		for _, a := range as {
			v := ""
			for i, p := range a.parts {
				if i > 0 {
					v += value
				}
				v += p
			}
			exact = exact || v == collapseSpaces(v)
			e.Attributes = append(e.Attributes, &ldap.EntryAttribute{Name: a.attr, Values: []string{v}})
		}
		if exact && !matches(e, as, value, mailaddr.Fold) {
			t.Fatalf("pattern %q value %q: the entry holding the asserted value does not match", pattern, value)
		}
	})
}
