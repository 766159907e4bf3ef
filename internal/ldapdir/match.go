package ldapdir

import (
	"encoding/hex"
	"regexp"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// assertion is an equality item of a filter pattern whose value holds
// %s: attr=parts[0] value parts[1] value … (the literal parts with
// their RFC 4515 escapes decoded).
type assertion struct {
	attr  string
	parts []string
}

// itemRE finds the simple items of a filter: (attr op value), value
// without parentheses (they are escaped in an RFC 4515 value).
var itemRE = regexp.MustCompile(`\(([A-Za-z0-9][A-Za-z0-9.;-]*)(~=|>=|<=|:[^()=]*:=|=)([^()]*)\)`)

// Assertions returns the equality items of a filter pattern that assert
// the %s value (not substrings, approximate or extensible matches):
// those whose values a hit is verified against. An empty result means a
// pattern no hit could be verified for; package config refuses it.
func Assertions(pattern string) []assertion {
	var out []assertion
	for _, m := range itemRE.FindAllStringSubmatch(pattern, -1) {
		attr, op, value := m[1], m[2], m[3]
		if op != "=" || !strings.Contains(value, "%s") || strings.Contains(value, "*") {
			continue
		}
		parts := strings.Split(value, "%s")
		for i, p := range parts {
			parts[i] = unescapeValue(p)
		}
		out = append(out, assertion{attr: attr, parts: parts})
	}
	return out
}

// unescapeValue decodes the \XX escapes of an RFC 4515 value.
func unescapeValue(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+2 < len(s) {
			if x, err := hex.DecodeString(s[i+1 : i+3]); err == nil {
				b.Write(x)
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// attributes are the attributes the assertions name, to request.
func attributes(as []assertion) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.attr)
	}
	return out
}

// normalize is an entry's value as umbra compares it: ASCII spaces
// trimmed and runs of them collapsed (a value stored carelessly), then
// keyed by key (mailaddr: ASCII letters folded only; for an address the
// domain as its A-label too). Only U+0020 counts as a space: a NO-BREAK
// SPACE or an ideographic space is a character of the name — the
// directory may ignore it (RFC 4518 maps it to a space), umbra does not.
func normalize(s string, key func(string) string) string {
	return key(collapseSpaces(s))
}

// collapseSpaces trims ASCII spaces (U+0020 only) and collapses runs of
// them to one.
func collapseSpaces(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == ' ' }), " ")
}

// matches reports whether the entry has a value, of an attribute an
// assertion names, equal to what the assertion asks for with value
// substituted, both keyed by key: mailaddr.AddrKey for a recipient
// address (ASCII case, and an internationalised domain in either form:
// bücher.example is xn--bcher-kva.example), mailaddr.Fold for a login
// name (ASCII case only: IDNA is for domains). The directory's own
// matching may fold far more (Unicode case, compatibility forms: U+212A
// KELVIN SIGN, fullwidth letters); a hit it found that way is not this
// value's.
func matches(e *ldap.Entry, as []assertion, value string, key func(string) string) bool {
	for _, a := range as {
		// The asked value is compared as given, ASCII case aside: a
		// space the directory ignores (leading, trailing, doubled) makes
		// another address — another mailbox — not this entry's.
		want := key(strings.Join(a.parts, value))
		for _, ea := range e.Attributes {
			// Options (mail;lang-en) are values of the attribute too.
			name, _, _ := strings.Cut(ea.Name, ";")
			attr, _, _ := strings.Cut(a.attr, ";")
			if !strings.EqualFold(name, attr) {
				continue
			}
			for _, v := range ea.Values {
				if normalize(v, key) == want {
					return true
				}
			}
		}
	}
	return false
}
