package signing

import (
	"bytes"
	"errors"
	"strings"

	"umbra/internal/header"
)

// field is one header field as it stands in the message: Raw is the
// whole field (name, colon, value with its folding and the final line
// break), Name the text before the colon.
type field struct {
	Name string
	Raw  string
}

// Value is the field's value: everything after the colon, unfolded
// lines kept as they are, without the final line break.
func (f field) Value() string {
	_, v, _ := strings.Cut(f.Raw, ":")
	return strings.TrimRight(v, "\r\n")
}

// errUnframed refuses to sign a message splitHeader finds no header
// section in that every reader frames alike.
var errUnframed = errors.New("message has no header/body separator, or a line before it that is neither a header field nor a continuation")

// splitHeader cuts msg into its header fields and the offset of the
// body (after the empty line). ok is false when msg has no empty line
// ending the header, or when a line before it is neither a header field
// (header.FieldStart, the receive side's rule) nor a continuation of
// one: a next hop would end the header section at that line, so a
// signature would cover fields no reader there shows as header. Such a
// message is sent unsigned.
func splitHeader(msg []byte) (fields []field, body int, ok bool) {
	pos := 0
	for pos < len(msg) {
		end := bytes.IndexByte(msg[pos:], '\n')
		if end < 0 {
			return fields, len(msg), false // unterminated last line: no body
		}
		line := msg[pos : pos+end+1]
		content := bytes.TrimRight(line, "\r\n")
		if len(content) == 0 {
			return fields, pos + end + 1, true
		}
		if content[0] == ' ' || content[0] == '\t' {
			if len(fields) == 0 {
				return fields, len(msg), false // continues no field
			}
			fields[len(fields)-1].Raw += string(line)
		} else {
			kind, n := header.FieldStart(content)
			if kind != header.Field {
				return fields, len(msg), false // the body would start here
			}
			fields = append(fields, field{Name: string(content[:n]), Raw: string(line)})
		}
		pos += end + 1
	}
	return fields, len(msg), false
}

// count returns how many fields are named name (case-insensitive).
func count(fields []field, name string) int {
	n := 0
	for _, f := range fields {
		if strings.EqualFold(f.Name, name) {
			n++
		}
	}
	return n
}

// tags parses a tag-list value (RFC 6376 §3.2): "a=b; c=d". Whitespace
// (folding included) around names and values is removed; a malformed
// entry ends the parse with what was read so far and false.
func tags(v string) (map[string]string, bool) {
	out := map[string]string{}
	for _, part := range strings.Split(v, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, val, found := strings.Cut(part, "=")
		if !found {
			return out, false
		}
		k = strings.TrimSpace(k)
		if k == "" {
			return out, false
		}
		if _, dup := out[k]; dup {
			return out, false // RFC 6376 §3.2: a duplicated tag invalidates the list
		}
		out[k] = strings.TrimSpace(val)
	}
	return out, true
}

// ownAuthServID reports whether the Authentication-Results value v is
// this server's (own): its authserv-id, read as the front door reads
// it (header.AuthservID, RFC 8601 §2.2: the first token or
// quoted-string after comments and white space), is own, without ASCII
// case and a final dot. Exactly that: a lookalike the door removes as a
// forgery because a lenient reader might take it for umbra's
// (header.SameAuthservID: "mx\.umbra.test", a Unicode space or a
// tspecial glued on, a comment inside) is no verdict of this server's,
// and is never sealed as one (TestARCSealsOnlyThisServersID).
func ownAuthServID(v, own string) bool {
	id := strings.TrimSuffix(header.AuthservID(v), ".")
	return id != "" && strings.EqualFold(id, strings.TrimSuffix(own, "."))
}

// stripComments removes RFC 5322 comments (nested, with quoted-pairs).
func stripComments(v string) string {
	var b strings.Builder
	depth := 0
	quoted := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '\\' && i+1 < len(v) && (depth > 0 || quoted):
			if depth == 0 {
				b.WriteByte(c)
				b.WriteByte(v[i+1])
			}
			i++
		case c == '"' && depth == 0:
			quoted = !quoted
			b.WriteByte(c)
		case c == '(' && !quoted:
			depth++
		case c == ')' && !quoted && depth > 0:
			depth--
		case depth == 0:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// methodResult returns the result of method (e.g. "arc") in an
// Authentication-Results value: "pass" for "arc=pass (…)"; "" when the
// method is absent.
func methodResult(v, method string) string {
	v = stripComments(v)
	parts := strings.Split(v, ";")
	for _, p := range parts[1:] {
		p = strings.TrimSpace(p)
		k, rest, ok := strings.Cut(p, "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), method) {
			continue
		}
		fs := strings.Fields(rest)
		if len(fs) == 0 {
			return ""
		}
		return strings.ToLower(fs[0])
	}
	return ""
}
