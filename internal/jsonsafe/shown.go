package jsonsafe

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
)

// FromShown undoes the escapes the CLI's text output writes for a
// character a terminal would act on (cmd/umbra termsafe.go): \uXXXX for
// a rune that is not printable (a surrogate pair above U+FFFF), \t, \n
// and \r, with a run of backslashes before what reads as such an escape
// written doubled. So a value copied from a table reads as the value:
// an odd run ends in the character, an even one in the text (\\u001b is
// the text \u001b a sender wrote). A run before x and two hex digits is
// the rule of TextBytes, which the values compared against hold too:
// it is left as it is. An escape of a printable rune (\u0041) is left as
// text: the CLI never shows one so. ok says whether anything was undone.
//
// Every filter that takes an operator's value as shown (umbra track,
// message list/remove --from/--to, the console's filter fields, dumpster
// --message-id) reads it through FromShown, and also matches the value
// as typed.
func FromShown(s string) (string, bool) {
	if !strings.Contains(s, `\`) {
		return s, false
	}
	var b strings.Builder
	ok := false
	for i := 0; i < len(s); {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			i++
			continue
		}
		end := i
		for end < len(s) && s[end] == '\\' {
			end++
		}
		n := end - i
		r, m, escape := shownEscape(s[end:])
		if !escape {
			b.WriteString(s[i:end])
			i = end
			continue
		}
		b.WriteString(s[i : i+n/2])
		ok = ok || n > 1
		if n%2 == 1 {
			if m > 0 {
				b.WriteRune(r)
				i, ok = end+m, true
				continue
			}
			b.WriteByte('\\')
		}
		i = end
	}
	return b.String(), ok
}

// shownEscape reads what follows a backslash run: whether it reads as
// an escape the CLI writes (t, n, r, u and four hex digits), and, when
// it is one the CLI writes for a character (m > 0), that character.
func shownEscape(s string) (r rune, m int, escape bool) {
	if s == "" {
		return 0, 0, false
	}
	switch s[0] {
	case 't':
		return '\t', 1, true
	case 'n':
		return '\n', 1, true
	case 'r':
		return '\r', 1, true
	case 'u':
	default:
		return 0, 0, false
	}
	hi, ok := hex4(s)
	if !ok {
		return 0, 0, false
	}
	r, m = rune(hi), 5
	if utf16.IsSurrogate(r) {
		if len(s) < 6 || s[5] != '\\' {
			return 0, 0, true
		}
		lo, ok := hex4(s[6:])
		if !ok {
			return 0, 0, true
		}
		if r = utf16.DecodeRune(r, rune(lo)); r == unicode.ReplacementChar {
			return 0, 0, true
		}
		m = 11
	}
	if r == ' ' || unicode.IsPrint(r) {
		return 0, 0, true
	}
	return r, m, true
}

// hex4 reads uXXXX at the start of s.
func hex4(s string) (uint64, bool) {
	if len(s) < 5 || s[0] != 'u' || !isHex(s[1]) || !isHex(s[2]) || !isHex(s[3]) || !isHex(s[4]) {
		return 0, false
	}
	v, err := strconv.ParseUint(s[1:5], 16, 32)
	return v, err == nil
}

// FromTextBytes undoes TextBytes: \xNN after an odd run of backslashes
// is the byte, and such a run (before xNN, or before a byte that is not
// UTF-8) is halved; any other backslash is left as it is.
func FromTextBytes(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			i++
			continue
		}
		end, double := BackslashRunBeforeEscape(s, i)
		n := end - i
		if !double {
			b.WriteString(s[i:end])
			i = end
			continue
		}
		b.WriteString(s[i : i+n/2])
		i = end
		if n%2 == 1 && end+3 <= len(s) && s[end] == 'x' {
			v, _ := strconv.ParseUint(s[end+1:end+3], 16, 8)
			b.WriteByte(byte(v))
			i = end + 3
		} else if n%2 == 1 {
			b.WriteByte('\\')
		}
	}
	return b.String()
}
