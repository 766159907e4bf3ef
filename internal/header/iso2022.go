package header

import (
	"strings"

	"golang.org/x/text/encoding/japanese"
)

// esc is the byte that starts an ISO 2022 escape sequence.
const esc = 0x1b

// iso2022JPEscape is the length of the ISO-2022-JP escape sequence s
// starts with — RFC 1468's four: ESC ( B (ASCII), ESC ( J (JIS X 0201
// Roman), ESC $ @ and ESC $ B (JIS X 0208) — 0 for anything else, and
// twoByte says whether it starts JIS X 0208. Old Japanese mailers write
// a name so, raw, in a quoted string or a comment; RFC 5322 §4
// obs-qtext and obs-ctext allow the ESC. Only these are text: what every
// reader decodes alike (the WHATWG decoder, a browser's, has neither RFC
// 2237's JIS X 0212, ESC $ ( D, nor JIS X 0201 katakana, ESC ( I, and
// shows the bytes after an ESC it does not know as ASCII). An ESC that
// starts another sequence (ISO-2022-JP-2's other charsets, a terminal's
// control sequence) stays a control character.
func iso2022JPEscape(s string) (n int, twoByte bool) {
	switch {
	case strings.HasPrefix(s, "\x1b(B"), strings.HasPrefix(s, "\x1b(J"):
		return 3, false
	case strings.HasPrefix(s, "\x1b$@"), strings.HasPrefix(s, "\x1b$B"):
		return 3, true
	}
	return 0, false
}

// iso2022JPRun is the length of the ISO-2022-JP escape sequence s starts
// with and, after one that starts JIS X 0208, of the two-byte characters
// that follow up to the next ESC; 0 where there is no such sequence
// (why says what is wrong). The characters are whole, each byte
// 0x21–0x7E, and they end at an ESC: so every reader pairs the bytes
// alike (a byte of another kind is read by one as a character's, by
// another as a character of its own: WHATWG reads " !w" as U+FFFD and
// '＠'). A byte of a character is the character's whatever it is — a
// quote, backslash or parenthesis too (あ is "$\"", え "$(", ぜ "$\\"):
// it ends no quoted string or comment, as it ends none for a reader that
// decodes the name (bidi23). A reader that does not decode ISO-2022-JP
// sees the run's bytes, and those are read too (shownText.add): no
// address of another domain hides in them. But such a reader ends the
// quoted string or comment at that byte and reads the bytes after it
// as the field's own syntax, where a comment in a domain
// ("<ceo@bank(x).test>") hides the address from the bytes as read
// (rr23 F2): so a run that holds one of delims (the quote and
// backslash of a quoted string, the parentheses and backslash of a
// comment) is refused where it also holds a byte of an address or of
// the list's syntax (< > @ , ; :), the one form a byte reader could
// read a mailbox from.
func iso2022JPRun(s, delims string) (n int, why string) {
	n, twoByte := iso2022JPEscape(s)
	if n == 0 {
		return 0, "a control character"
	}
	if !twoByte {
		return n, ""
	}
	const notJIS = "ISO-2022-JP text that is not JIS X 0208 characters"
	for ; n < len(s) && s[n] != esc; n += 2 {
		if n+1 >= len(s) || s[n+1] == esc {
			return 0, notJIS
		}
		for _, c := range []byte{s[n], s[n+1]} {
			if c < 0x21 || c > 0x7e {
				return 0, notJIS
			}
		}
	}
	if n >= len(s) {
		return 0, notJIS
	}
	if run := s[:n]; strings.ContainsAny(run, delims) && strings.ContainsAny(run, "<>@") {
		return 0, "ISO-2022-JP text whose bytes a reader that does not decode it reads as an address"
	}
	return n, ""
}

// decodeISO2022JP is s with each ISO-2022-JP escape sequence taken as
// a reader takes it: one that starts JIS X 0208 and the bytes after it
// up to the next ESC decoded (JIS X 0208 "!w" is U+FF20, '@' once
// folded), one back to ASCII or JIS X 0201 Roman dropped (the bytes
// after it are text as they are: Roman differs from ASCII only in '¥'
// and '‾'); the rest, and an ESC that starts no such sequence, as it is.
func decodeISO2022JP(s string) string {
	var b strings.Builder
	b.Grow(len(s) * 2)
	for {
		i := strings.IndexByte(s, esc)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		n, twoByte := iso2022JPEscape(s[i:])
		switch {
		case n == 0:
			b.WriteString(s[:i+1])
			s = s[i+1:]
		case !twoByte:
			b.WriteString(s[:i])
			s = s[i+n:]
		default:
			b.WriteString(s[:i])
			end := len(s)
			if j := strings.IndexByte(s[i+n:], esc); j >= 0 {
				end = i + n + j
			}
			// The decoder never fails: a byte it cannot read is U+FFFD.
			d, _ := japanese.ISO2022JP.NewDecoder().String(s[i:end])
			b.WriteString(d)
			s = s[end:]
		}
	}
}
