package msgauth

import (
	"bytes"
	"strings"
)

// field is one header field as received.
type field struct {
	name string // the name before the colon ("" for a line without one)
	raw  []byte // the whole field: name, colon, value, folding, final line end
}

// value returns the field's value after the colon, folding kept.
func (f field) value() string {
	i := bytes.IndexByte(f.raw, ':')
	if i < 0 {
		return ""
	}
	return string(f.raw[i+1:])
}

// is reports whether the field has the given name (case-insensitively).
func (f field) is(name string) bool { return strings.EqualFold(f.name, name) }

// splitHeader splits a message into its header fields and its body. The
// header ends at the first empty line (which belongs to neither part) or
// at the end of the message. A line starting with a space or tab
// continues the field before it; a first line that does so, or a line
// without a colon, is a field with no name, kept so that the message is
// rebuilt byte for byte.
func splitHeader(msg []byte) (fields []field, body []byte) {
	start, pos := 0, 0 // start of the current field, start of the line
	for pos < len(msg) {
		end := len(msg)
		if i := bytes.IndexByte(msg[pos:], '\n'); i >= 0 {
			end = pos + i + 1
		}
		line := msg[pos:end]
		if isBlankLine(line) {
			return fields, msg[end:]
		}
		if (line[0] == ' ' || line[0] == '\t') && len(fields) > 0 {
			fields[len(fields)-1].raw = msg[start:end]
		} else {
			name := ""
			if i := bytes.IndexByte(line, ':'); i > 0 {
				name = strings.TrimRight(string(line[:i]), " \t")
				if strings.ContainsAny(name, " \t") {
					name = ""
				}
			}
			start = pos
			fields = append(fields, field{name: name, raw: line})
		}
		pos = end
	}
	return fields, nil
}

func isBlankLine(line []byte) bool {
	return string(line) == "\r\n" || string(line) == "\n"
}

// joinFields rebuilds a header (without the empty line).
func joinFields(fields []field) []byte {
	n := 0
	for _, f := range fields {
		n += len(f.raw)
	}
	out := make([]byte, 0, n)
	for _, f := range fields {
		out = append(out, f.raw...)
	}
	return out
}
