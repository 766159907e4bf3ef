package msgauth

import (
	"bytes"
	"strings"

	"umbra/internal/header"
	"umbra/internal/smtp"
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
// header section is the one umbra stores, as the receive side decides
// it (smtp.HeaderSectionLen, the one framing authority): it ends at the
// first empty line (which belongs to neither part) or at the first line
// that is neither a field nor a continuation of one, and that line
// starts the body. (The session puts the empty line there before any
// check runs, so a check's content has it; a line below it is never
// read as a field, rt21b M1.) Every line of the section is a field or
// a continuation, so the fields and the body rebuild the message byte
// for byte.
func splitHeader(msg []byte) (fields []field, body []byte) {
	n := smtp.HeaderSectionLen(msg)
	head, body := msg[:n], msg[n:]
	if bytes.HasSuffix(head, []byte("\r\n")) && (len(head) == 2 || bytes.HasSuffix(head, []byte("\r\n\r\n"))) {
		head = head[:len(head)-2] // the empty line
	}
	start, pos := 0, 0 // start of the current field, start of the line
	for pos < len(head) {
		end := len(head)
		if i := bytes.IndexByte(head[pos:], '\n'); i >= 0 {
			end = pos + i + 1
		}
		line := head[pos:end]
		if (line[0] == ' ' || line[0] == '\t') && len(fields) > 0 {
			fields[len(fields)-1].raw = head[start:end]
		} else {
			_, nameLen := header.FieldStart(line)
			start = pos
			fields = append(fields, field{name: string(line[:nameLen]), raw: line})
		}
		pos = end
	}
	return fields, body
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
