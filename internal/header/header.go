package header

import (
	"bytes"
	"strings"
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

// AddressPaths is the address each field called name holds, as a
// path's text: its comments removed (withoutComments), spaces and the
// angle brackets around it trimmed. Its parse is the reader's: the
// comparison with a recipient reads it as RCPT reads a path
// (smtp.FieldAddressKeys), so that a field final delivery wrote for a
// stored recipient names that recipient whatever its local part holds
// (one parse, never a second one here that disagrees with RCPT's).
// nil when there is no such field.
func AddressPaths(msg []byte, name string) []string {
	vs := Values(msg, name)
	for i, v := range vs {
		vs[i] = strings.TrimSpace(strings.Trim(strings.TrimSpace(withoutComments(v)), "<>"))
	}
	return vs
}

// withoutComments is the field value v without its RFC 5322 comments
// (parenthesised, nested, outside quoted strings, a backslash quoting
// the next character), each replaced by a space. An unclosed comment
// runs to the end.
func withoutComments(v string) string { return dropComments(v, " ") }

// commentsDeleted is v without its comments, nothing in their place:
// "mx.corp(x).test" is "mx.corp.test", as a careless reader reads it.
func commentsDeleted(v string) string { return dropComments(v, "") }

// dropComments is v with each comment replaced by sep.
func dropComments(v, sep string) string {
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
				b.WriteString(sep)
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
