// Package jsonsafe escapes, in JSON umbra writes, the characters a
// terminal or a browser would act on: one rule for the admin API, the
// web console, the daemon's JSON log and the tracking log, the same
// characters the CLI escapes. The escapes are JSON's, so a document
// stays valid and decodes to the same values.
package jsonsafe

import (
	"fmt"
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
// which encoding/json writes in its place too.
func Raw(r rune) bool {
	if r < utf8.RuneSelf {
		return r >= 0x20 && r != 0x7f || r == '\t' || r == '\n' || r == '\r'
	}
	return r != utf8.RuneError && unicode.IsPrint(r)
}
