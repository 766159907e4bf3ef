package header

import (
	"strings"

	"golang.org/x/text/encoding/japanese"
)

// esc is the byte that starts an ISO 2022 escape sequence.
const esc = 0x1b

// iso2022JPEscape is the length of the ISO-2022-JP escape sequence s
// starts with (RFC 1468, and RFC 2237's JIS X 0212 and JIS X 0201
// katakana: ESC ( B, ESC ( J, ESC ( I, ESC $ @, ESC $ B, ESC $ ( D, the
// ones golang.org/x/text's decoder reads), 0 for anything else. Old
// Japanese mailers write a name so, raw, in a quoted string or a
// comment; RFC 5322 §4 obs-qtext and obs-ctext allow the ESC. An ESC
// that starts no such sequence (ISO-2022-JP-2's other charsets, a
// terminal's control sequence) stays a control character: what it shows
// is not read here.
func iso2022JPEscape(s string) int {
	switch {
	case strings.HasPrefix(s, "\x1b$(D"):
		return 4
	case strings.HasPrefix(s, "\x1b(B"), strings.HasPrefix(s, "\x1b(J"), strings.HasPrefix(s, "\x1b(I"),
		strings.HasPrefix(s, "\x1b$@"), strings.HasPrefix(s, "\x1b$B"):
		return 3
	}
	return 0
}

// decodeISO2022JP is s with each run that an ISO-2022-JP escape
// sequence starts, up to and with the next return to ASCII (ESC ( B or
// ESC ( J) or to the end of s, decoded as a reader decodes it (JIS X
// 0208 "!w" is U+FF20, '@' once folded); the rest, and an ESC that
// starts no such sequence, as it is.
func decodeISO2022JP(s string) string {
	var b strings.Builder
	b.Grow(len(s) * 2)
	for {
		i := strings.IndexByte(s, esc)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		n := iso2022JPEscape(s[i:])
		if n == 0 {
			b.WriteString(s[:i+1])
			s = s[i+1:]
			continue
		}
		b.WriteString(s[:i])
		end := len(s)
		for j := i + n; j < len(s); j++ {
			if s[j] == esc && (strings.HasPrefix(s[j:], "\x1b(B") || strings.HasPrefix(s[j:], "\x1b(J")) {
				end = j + 3
				break
			}
		}
		// The decoder never fails: a byte it cannot read is U+FFFD.
		d, _ := japanese.ISO2022JP.NewDecoder().String(s[i:end])
		b.WriteString(d)
		s = s[end:]
	}
}
