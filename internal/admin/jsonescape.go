package admin

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// The API's strings come from the network: a sender, a recipient, an
// EHLO name, a next hop's reply. encoding/json escapes the C0 controls
// but writes C1 controls (U+0080–U+009F, CSI U+009B among them), DEL,
// bidirectional overrides and isolates and zero-width characters raw,
// and a terminal or a browser showing the raw JSON would act on them.
// EscapeUnprintable writes each such character as a JSON escape
// (\u009b, a surrogate pair above U+FFFF): the same characters the CLI
// escapes (every one that is not printable; tab, newline and carriage
// return are kept), so the API's JSON stays valid and decodes to the
// same values (outside strings JSON has only ASCII, and encoding/json
// has escaped the C0 controls in strings), and the web console's pages,
// built from that JSON, show the escape rather than obey the character.
func EscapeUnprintable(b []byte) []byte {
	i := 0
	for i < len(b) {
		r, n := utf8.DecodeRune(b[i:])
		if !jsonRaw(r) {
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
		case jsonRaw(r):
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

// jsonRaw: r may appear as itself. A byte that is not UTF-8 (RuneError)
// is escaped as U+FFFD, which encoding/json writes in its place too.
func jsonRaw(r rune) bool {
	if r < utf8.RuneSelf {
		return r >= 0x20 && r != 0x7f || r == '\t' || r == '\n' || r == '\r'
	}
	return r != utf8.RuneError && unicode.IsPrint(r)
}
