package jsonsafe

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// umbra's JSON strings come from the network: a sender, a recipient, an
// EHLO name, a next hop's reply. encoding/json escapes the C0 controls
// but writes C1 controls (U+0080–U+009F, CSI U+009B among them), DEL,
// bidirectional overrides and isolates and zero-width characters raw,
// and a terminal or a browser showing the raw JSON would act on them.
// Escape writes each such character as a JSON escape
// (\u009b, a surrogate pair above U+FFFF): the same characters the CLI
// escapes (every one that is not printable; tab, newline and carriage
// return are kept), so the JSON stays valid and decodes to the
// same values (outside strings JSON has only ASCII, and encoding/json
// has escaped the C0 controls in strings), and the web console's pages,
// built from that JSON, show the escape rather than obey the character.
func Escape(b []byte) []byte {
	i := 0
	for i < len(b) {
		r, n := utf8.DecodeRune(b[i:])
		if !Raw(r) {
			break
		}
		i += n
	}
	if i == len(b) {
		return b
	}
	out := append(make([]byte, 0, len(b)+16), b[:i]...)
	for i < len(b) {
		r, n := utf8.DecodeRune(b[i:])
		switch {
		case Raw(r):
			out = append(out, b[i:i+n]...)
		case r > 0xffff:
			r -= 0x10000
			out = fmt.Appendf(out, `\u%04x\u%04x`, 0xd800+(r>>10)&0x3ff, 0xdc00+r&0x3ff)
		default:
			out = fmt.Appendf(out, `\u%04x`, r)
		}
		i += n
	}
	return out
}

// Raw reports whether r may appear as itself in a JSON string umbra
// writes. A byte that is not UTF-8 (RuneError) is escaped as U+FFFD,
// which encoding/json writes in its place too (where umbra writes
// TextBytes first, no such byte is left).
func Raw(r rune) bool {
	if r < utf8.RuneSelf {
		return r >= 0x20 && r != 0x7f || r == '\t' || r == '\n' || r == '\r'
	}
	return r != utf8.RuneError && unicode.IsPrint(r)
}

// TextBytes is s with each byte that is not part of valid UTF-8 written
// as the text \xNN (lower-case hex); valid UTF-8 is returned as it is.
// JSON cannot hold such a byte, and encoding/json writes U+FFFD in its
// place, which hides which byte it was and looks like a character the
// sender wrote: the admin API and the tracking log write \xNN instead,
// as the CLI and the daemon's text log show it.
//
// So that the text \xNN the sender wrote does not read as the byte, a
// run of literal backslashes that would read as (or run into) an escape
// — followed by x and two hex digits, or by a byte written \xNN — is
// written doubled: a run of n backslashes before xNN reads as n/2
// literal backslashes then the text xNN when n is even, and as (n-1)/2
// then the byte when n is odd. Any other backslash is left as it is, so
// a value written before this rule reads the same unless it held such a
// run.
func TextBytes(s string) string {
	if utf8.ValidString(s) && !strings.Contains(s, `\x`) {
		return s
	}
	return string(AppendTextBytes(make([]byte, 0, len(s)+16), s))
}

// BackslashRunBeforeEscape reports, for s[i:] starting a run of literal
// backslashes, where the run ends and whether it is followed by what
// reads as an escape (x and two hex digits, or a byte that is not UTF-8):
// such a run is written doubled (TextBytes).
func BackslashRunBeforeEscape(s string, i int) (end int, double bool) {
	end = i
	for end < len(s) && s[end] == '\\' {
		end++
	}
	if end < len(s) {
		if r, n := utf8.DecodeRuneInString(s[end:]); r == utf8.RuneError && n <= 1 {
			return end, true
		}
	}
	return end, end+3 <= len(s) && s[end] == 'x' && isHex(s[end+1]) && isHex(s[end+2])
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// AppendTextBytes appends TextBytes(s) to b.
func AppendTextBytes(b []byte, s string) []byte {
	for i := 0; i < len(s); {
		if s[i] == '\\' {
			end, double := BackslashRunBeforeEscape(s, i)
			b = append(b, s[i:end]...)
			if double {
				b = append(b, s[i:end]...)
			}
			i = end
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 {
			b = append(b, '\\', 'x', hexDigits[s[i]>>4], hexDigits[s[i]&0xf])
			i++
			continue
		}
		b = append(b, s[i:i+n]...)
		i += n
	}
	return b
}

const hexDigits = "0123456789abcdef"

// TextError is an error whose text is in the text form already: each
// value it names was written by TextBytes (or by a rule built on it,
// queue.QuoteShown, which writes a control character as \xNN too). A
// writer of errors (the CLI's standard error and --json, the daemon's
// log) writes its text as it is and the text of any other error by
// TextBytes, so that a value is escaped exactly once: TextBytes is not
// idempotent (it doubles the backslash of a \xNN, so that the text \xe9
// reads apart from the byte 0xe9), and only the error's type can say
// which of the two a text holds.
type TextError struct{ err error }

// Textf is fmt.Errorf for a text in the text form (TextError): every
// value in args that came from outside is written by TextBytes or
// queue.QuoteShown by the caller. A %w error's text is taken as it is
// too: wrap only an error whose text is in the text form.
func Textf(format string, args ...any) error {
	return &TextError{fmt.Errorf(format, args...)}
}

func (e *TextError) Error() string { return e.err.Error() }

// Unwrap is the error Textf made, which unwraps to a %w error.
func (e *TextError) Unwrap() error { return e.err }

// QuotedAsIs is s with every segment exactly as Go's %q writes it
// (strconv.Quote) kept as it is and the text around them written by
// plain (TextBytes, or a rule built on it). Go's quoting is escaped
// once already — it tells the byte 0xe9 (\xe9) from the text (\\xe9) and
// writes no control character raw —, and TextBytes over it again would
// double its backslash: the byte read as the text of its escape. A
// quote that is not exactly Go's (a name's own quote, raw bytes between)
// is plain text.
func QuotedAsIs(s string, plain func(string) string) string {
	var b strings.Builder
	from := 0
	for i := 0; i < len(s); {
		if s[i] != '"' {
			i++
			continue
		}
		q, err := strconv.QuotedPrefix(s[i:])
		if err != nil {
			i++
			continue
		}
		if u, err := strconv.Unquote(q); err != nil || strconv.Quote(u) != q {
			i++
			continue
		}
		b.WriteString(plain(s[from:i]))
		b.WriteString(q)
		i += len(q)
		from = i
	}
	b.WriteString(plain(s[from:]))
	return b.String()
}
