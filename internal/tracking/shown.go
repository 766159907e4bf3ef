package tracking

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
)

// fromShown undoes the escapes the CLI's tables write for a character a
// terminal would act on (cmd/umbra termsafe.go): \uXXXX for a rune that
// is not printable (a surrogate pair above U+FFFF), \t, \n and \r. A
// query copied from track's table so reads as the value the log holds.
// An escape of a printable rune (\u0041) is left as text: the CLI never
// shows one so, and a sender may have written it. ok says whether
// anything was undone.
func fromShown(s string) (string, bool) {
	if !strings.Contains(s, `\`) {
		return s, false
	}
	var b strings.Builder
	ok := false
	for i := 0; i < len(s); {
		if s[i] != '\\' || i+1 >= len(s) {
			b.WriteByte(s[i])
			i++
			continue
		}
		switch s[i+1] {
		case 't', 'n', 'r':
			b.WriteByte(map[byte]byte{'t': '\t', 'n': '\n', 'r': '\r'}[s[i+1]])
			i, ok = i+2, true
			continue
		case 'u':
			if r, n := shownRune(s[i:]); n > 0 {
				b.WriteRune(r)
				i, ok = i+n, true
				continue
			}
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String(), ok
}

// shownRune reads \uXXXX (or a pair of them for a rune above U+FFFF) at
// the start of s, for a rune the CLI escapes; n is 0 when there is none.
func shownRune(s string) (rune, int) {
	hi, ok := hex4(s)
	if !ok {
		return 0, 0
	}
	r, n := rune(hi), 6
	if utf16.IsSurrogate(r) {
		lo, ok := hex4(s[6:])
		if !ok {
			return 0, 0
		}
		if r = utf16.DecodeRune(r, rune(lo)); r == unicode.ReplacementChar {
			return 0, 0
		}
		n = 12
	}
	if r == ' ' || unicode.IsPrint(r) {
		return 0, 0
	}
	return r, n
}

// hex4 reads \uXXXX at the start of s.
func hex4(s string) (uint64, bool) {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return 0, false
	}
	v, err := strconv.ParseUint(s[2:6], 16, 32)
	return v, err == nil
}
