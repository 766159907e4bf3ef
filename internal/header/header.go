package header

import (
	"bytes"
	"strings"
	"umbra/internal/mailaddr"
)

// field is one header field: its position in the message (start of its
// first line to the end of its last line, line endings included).
type field struct {
	name       string
	start, end int
}

// fields lists the header section's fields and returns where the section
// ends: the offset of the empty line, of the first line that is neither
// a field (FieldStart) nor a continuation of one — the receive side's
// end, where the body starts — or len(msg).
func fields(msg []byte) ([]field, int) {
	var out []field
	pos := 0
	for pos < len(msg) {
		end := lineEnd(msg, pos)
		line := trimEOL(msg[pos:end])
		if len(line) == 0 {
			return out, pos
		}
		if line[0] == ' ' || line[0] == '\t' {
			if len(out) == 0 {
				return out, pos // continues no field: the body's first line
			}
			out[len(out)-1].end = end // continuation of the previous field
		} else if kind, n := FieldStart(line); kind == Field {
			out = append(out, field{name: string(line[:n]), start: pos, end: end})
		} else {
			return out, pos
		}
		pos = end
	}
	return out, pos
}

func lineEnd(msg []byte, pos int) int {
	if i := bytes.IndexByte(msg[pos:], '\n'); i >= 0 {
		return pos + i + 1
	}
	return len(msg)
}

func trimEOL(line []byte) []byte {
	line = bytes.TrimSuffix(line, []byte("\n"))
	return bytes.TrimSuffix(line, []byte("\r"))
}

// Count returns how many fields called name the header section has.
func Count(msg []byte, name string) int {
	n := 0
	for w := (fieldWalk{msg: msg}); w.next(); {
		if nameIs(w.name, name) {
			n++
		}
	}
	return n
}

// Values returns the unfolded, trimmed values of the fields called name.
func Values(msg []byte, name string) []string {
	var out []string
	for f := (fieldWalk{msg: msg}); f.next(); {
		if !nameIs(f.name, name) {
			continue
		}
		raw := msg[f.start:f.end]
		v := raw[bytes.IndexByte(raw, ':')+1:]
		v = bytes.ReplaceAll(v, []byte("\r\n"), nil)
		v = bytes.ReplaceAll(v, []byte("\n"), nil)
		out = append(out, strings.TrimSpace(string(v)))
	}
	return out
}

// Remove returns msg without the fields of the given names. When there
// is none, msg itself is returned (no copy).
func Remove(msg []byte, names ...string) []byte {
	var out []byte
	last := 0
	for f := (fieldWalk{msg: msg}); f.next(); {
		drop := false
		for _, n := range names {
			if nameIs(f.name, n) {
				drop = true
				break
			}
		}
		if !drop {
			continue
		}
		if out == nil {
			out = make([]byte, 0, len(msg))
		}
		out = append(out, msg[last:f.start]...)
		last = f.end
	}
	if out == nil {
		return msg
	}
	return append(out, msg[last:]...)
}

// HasAddress reports whether a field called name holds addr, compared
// as umbra compares recipients (mailaddr.AddrKey: ASCII case, an
// internationalised domain in either form), with or without angle
// brackets, and with a quoted
// local part taken by its content ("alice"@x is alice@x, as RCPT takes
// it).
func HasAddress(msg []byte, name, addr string) bool {
	key := func(a string) string { return mailaddr.AddrKey(strings.TrimSuffix(a, ".")) }
	return AddressKeys(msg, name, key)[key(addr)]
}

// AddressKeys is the set of keys (key: a recipient set's,
// mailaddr.RcptKey, whose local part folds only for a domain this
// organisation is authoritative for) of the addresses the fields called
// name hold, as HasAddress reads them: built once per message, each
// recipient then one look-up. nil when there is no such field.
func AddressKeys(msg []byte, name string, key func(string) string) map[string]bool {
	var set map[string]bool
	for _, v := range Values(msg, name) {
		a := quoteLocal(unquoteLocal(strings.TrimSpace(strings.Trim(strings.TrimSpace(withoutComments(v)), "<>"))))
		if set == nil {
			set = map[string]bool{}
		}
		set[key(a)] = true
	}
	return set
}

// withoutComments is the field value v without its RFC 5322 comments
// (parenthesised, nested, outside quoted strings, a backslash quoting
// the next character), each replaced by a space. An unclosed comment
// runs to the end.
func withoutComments(v string) string {
	if !strings.Contains(v, "(") {
		return v
	}
	var b strings.Builder
	depth, quoted := 0, false
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '\\' && (quoted || depth > 0) && i+1 < len(v):
			if depth == 0 {
				b.WriteByte(c)
				b.WriteByte(v[i+1])
			}
			i++
		case depth == 0 && c == '"':
			quoted = !quoted
			b.WriteByte(c)
		case !quoted && c == '(':
			if depth == 0 {
				b.WriteByte(' ')
			}
			depth++
		case !quoted && depth > 0 && c == ')':
			depth--
		case depth == 0:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// quoteLocal is a (its local part as content, unquoteLocal) in the form
// RCPT stores it (smtp.parsePathAddress): a local part that is no
// dot-string — a space, a quote, a backslash, another special — quoted
// again, '"' and '\\' as quoted-pairs, so that a Delivered-To naming
// "an na"@x names the recipient "an na"@x; any other a as it is.
func quoteLocal(a string) string {
	at := strings.LastIndexByte(a, '@')
	if at <= 0 {
		return a
	}
	local := a[:at]
	need := false
	for i := 0; i < len(local) && !need; i++ {
		c := local[i]
		need = c < 0x80 && !strings.ContainsRune(dotStringASCII, rune(c))
	}
	if !need || strings.IndexByte(local, '@') >= 0 || strings.HasPrefix(a, `"`) && unquoteLocal(a) == a {
		return a
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(local); i++ {
		if c := local[i]; c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(local[i])
	}
	b.WriteByte('"')
	return b.String() + a[at:]
}

// dotStringASCII is the ASCII characters of an RFC 5321 Dot-string.
const dotStringASCII = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~."

// unquoteLocal is a with its quoted local part ("...", backslash
// escapes) written as its content; a as it is when its local part is not
// quoted or the quotes are not closed before the last "@".
func unquoteLocal(a string) string {
	at := strings.LastIndexByte(a, '@')
	if at < 2 || a[0] != '"' || a[at-1] != '"' {
		return a
	}
	var b strings.Builder
	q := a[1 : at-1]
	for i := 0; i < len(q); i++ {
		switch c := q[i]; {
		case c == '\\' && i+1 < len(q):
			i++
			b.WriteByte(q[i])
		case c == '"':
			return a // a quote inside: not one quoted string
		default:
			b.WriteByte(c)
		}
	}
	return b.String() + a[at:]
}
