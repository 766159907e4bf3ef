package main

import (
	"fmt"
	"io"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"
)

// What the CLI prints of a message — a sender, a recipient, a Subject, a
// next hop's reply, a tracking log event — comes from the network. A
// control character in it (C0 such as ESC, C1 U+0080–U+009F such as CSI
// U+009B, a bidirectional override, an invalid byte) would act on the
// operator's terminal. So every command's output and error stream pass
// through termWriter, which writes such a character escaped the way the
// daemon's log does (\u009b; \x9b for a byte that is not UTF-8), and the
// fields of a table go through termSafe first, which escapes tab and
// newline too, so that a field cannot shift columns or forge a line.
// The escapes are JSON's (a surrogate pair above U+FFFF), so --json
// output stays valid JSON with the same values. In text (termSafe, and
// textSafe for an error message) a backslash run before what reads as
// such an escape is doubled, so that the text \u001b a sender wrote
// reads \\u001b and the character ESC \u001b; --json is left exact. Only message export to
// standard output, which is the message byte for byte, bypasses it
// (rawOut).

// termSafe is s with every character a terminal would act on escaped:
// controls (tab and newline included), non-printable runes and bytes
// that are not UTF-8. So that the text of an escape a sender wrote
// (\u001b, \t) does not read as the character, a run of backslashes
// before what reads as an escape termSafe writes — u and four hex
// digits, t, n or r, or a character it escapes — is shown doubled: an
// odd run ends in an escape, an even one in text (the rule the one
// escape rule, jsonsafe.TextBytes, applies to \xNN, which the admin API
// and the tracking log have applied already: a run before xNN is left
// as it is). jsonsafe.FromShown undoes it, so a value copied from a
// table reads as the value. Not idempotent: each field passes once.
func termSafe(s string) string {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if !printableRune(r, n) || r == '\t' || r == '\n' || r == '\\' {
			return string(appendEscaped(nil, []byte(s), true, true))
		}
		i += n
	}
	return s
}

// textSafe is termSafe for a message of several lines (an error on
// standard error): tab and newline stay, every other character a
// terminal would act on is escaped, and a backslash run before what
// reads as an escape is doubled, as in a table field.
func textSafe(s string) string {
	return string(appendEscaped(nil, []byte(s), false, true))
}

// runBeforeEscape reports, for b[i:] starting a run of backslashes,
// where the run ends and whether what follows reads as an escape of a
// table field (appendEscaped with fields): u and four hex digits, t, n,
// r, or a character that is written escaped. A run before x and two hex
// digits is the one rule's (jsonsafe.TextBytes), doubled there already.
func runBeforeEscape(b []byte, i int, fields bool) (end int, double bool) {
	end = i
	for end < len(b) && b[end] == '\\' {
		end++
	}
	if end == len(b) {
		return end, false
	}
	switch c := b[end]; {
	case c == 't' || c == 'n' || c == 'r':
		return end, true
	case c == 'u':
		if end+5 <= len(b) && isHexDigits(b[end+1:end+5]) {
			return end, true
		}
		return end, false
	}
	r, n := utf8.DecodeRune(b[end:])
	return end, !printableRune(r, n) || fields && (r == '\t' || r == '\n')
}

func isHexDigits(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// printableRune reports whether r (n bytes of UTF-8) is shown as itself.
func printableRune(r rune, n int) bool {
	if r == utf8.RuneError && n <= 1 {
		return false
	}
	return r == ' ' || r == '\t' || r == '\n' || unicode.IsPrint(r)
}

// appendEscaped appends b to dst with each character that is not
// printable escaped; with fields, tab and newline are escaped too. With
// double, a backslash run before what reads as an escape is doubled
// (termSafe, textSafe); the writer of every stream (termWriter) does not
// double, as it carries JSON too, whose backslashes are JSON's.
func appendEscaped(dst, b []byte, fields, double bool) []byte {
	for i := 0; i < len(b); {
		if double && b[i] == '\\' {
			end, double := runBeforeEscape(b, i, fields)
			dst = append(dst, b[i:end]...)
			if double {
				dst = append(dst, b[i:end]...)
			}
			i = end
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			dst = fmt.Appendf(dst, `\x%02x`, b[i])
		case fields && r == '\t':
			dst = append(dst, `\t`...)
		case fields && r == '\n':
			dst = append(dst, `\n`...)
		case printableRune(r, n):
			dst = append(dst, b[i:i+n]...)
		case r == '\r':
			dst = append(dst, `\r`...)
		case r > 0xffff:
			r1, r2 := utf16Pair(r)
			dst = fmt.Appendf(dst, `\u%04x\u%04x`, r1, r2)
		default:
			dst = fmt.Appendf(dst, `\u%04x`, r)
		}
		i += n
	}
	return dst
}

func utf16Pair(r rune) (rune, rune) {
	r -= 0x10000
	return 0xd800 + (r>>10)&0x3ff, 0xdc00 + r&0x3ff
}

// termWriter escapes what it writes to w (appendEscaped, tab and newline
// kept). A character cut between two writes is held until the next.
type termWriter struct {
	w       io.Writer
	pending []byte
	buf     []byte
}

func newTermWriter(w io.Writer) *termWriter { return &termWriter{w: w} }

func (t *termWriter) Write(p []byte) (int, error) {
	b := p
	if len(t.pending) > 0 {
		b = append(t.pending, p...)
		t.pending = nil
	}
	// Hold back an incomplete character at the end (at most 3 bytes).
	cut := len(b)
	for k := 1; k <= 3 && k <= len(b); k++ {
		if c := b[len(b)-k]; utf8.RuneStart(c) {
			if !utf8.FullRune(b[len(b)-k:]) {
				cut = len(b) - k
			}
			break
		}
	}
	t.pending = append(t.pending[:0], b[cut:]...)
	t.buf = appendEscaped(t.buf[:0], b[:cut], false, false)
	if _, err := t.w.Write(t.buf); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush writes a held incomplete character (escaped: it stays invalid).
func (t *termWriter) Flush() error {
	if len(t.pending) == 0 {
		return nil
	}
	t.buf = appendEscaped(t.buf[:0], t.pending, false, false)
	t.pending = nil
	_, err := t.w.Write(t.buf)
	return err
}

// rawOut is the command's standard output without the escaping, for
// bytes that must arrive as they are (a message exported to stdout).
func rawOut(cmd *cobra.Command) io.Writer {
	out := cmd.OutOrStdout()
	if t, ok := out.(*termWriter); ok {
		t.Flush()
		return t.w
	}
	return out
}
