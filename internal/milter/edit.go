package milter

import (
	"bytes"
	"strings"

	"umbra/internal/header"
)

// message is a message split for the milter: its header fields, in
// order, and what follows them. Joining gives the bytes back exactly.
type message struct {
	fields []field
	sep    bool   // a blank line ended the header section
	body   []byte // after the blank line (or from the first line that is not a header field)
}

type field struct {
	name string
	raw  []byte // every line of the field, each with its CRLF (the last may lack it at the end of the message)
}

// parseMessage splits content. The header section ends at a blank line
// or at the first line that is neither a field nor a continuation: that
// line starts the body. Whether a
// line starts a field is header.FieldStart's decision, the same the
// receive side makes (so "From : a@…", obsolete but valid, is a field
// here as it is where umbra stores and edits it); a field's name is sent
// without the blanks before its colon.
func parseMessage(b []byte) message {
	var m message
	for len(b) > 0 {
		end := bytes.Index(b, []byte("\r\n"))
		line := b
		if end >= 0 {
			line = b[:end+2]
		}
		text := bytes.TrimSuffix(line, []byte("\r\n"))
		switch {
		case len(text) == 0 && end >= 0:
			m.sep, m.body = true, b[len(line):]
			return m
		case (text[0] == ' ' || text[0] == '\t') && len(m.fields) > 0:
			f := &m.fields[len(m.fields)-1]
			f.raw = append(f.raw, line...)
		default:
			kind, n := header.FieldStart(text)
			if kind != header.Field {
				m.body = b
				return m
			}
			m.fields = append(m.fields, field{name: string(text[:n]), raw: append([]byte(nil), line...)})
		}
		b = b[len(line):]
	}
	return m
}

// headerLen is the size of the header section (its fields and the blank
// line that ends it).
func (m message) headerLen() int {
	n := 2
	for _, f := range m.fields {
		n += len(f.raw)
	}
	return n
}

// longestHeaderLine is the longest line of any field, its CRLF counted.
func (m message) longestHeaderLine() int {
	n := 0
	for _, f := range m.fields {
		n = max(n, longestLine(f.raw))
	}
	return n
}

func (m message) bytes() []byte {
	n := len(m.body) + 2
	for _, f := range m.fields {
		n += len(f.raw)
	}
	out := make([]byte, 0, n)
	for i, f := range m.fields {
		out = append(out, f.raw...)
		// A field without its CRLF (the end of a BDAT message) gets one
		// when anything follows it.
		if !bytes.HasSuffix(f.raw, []byte("\r\n")) && (i < len(m.fields)-1 || m.sep || len(m.body) > 0) {
			out = append(out, "\r\n"...)
		}
	}
	if m.sep {
		out = append(out, "\r\n"...)
	}
	return append(out, m.body...)
}

// value is a field's value as a milter gets it: after the colon, the
// leading white space removed, folds as LF (the milter protocol's
// form), without the final line end.
func (f field) value() string {
	_, v, _ := strings.Cut(string(f.raw), ":")
	v = strings.TrimRight(v, "\r\n")
	v = strings.TrimLeft(v, " \t")
	return strings.ReplaceAll(v, "\r\n", "\n")
}

// validName: a header field name (RFC 5322 ftext: printable ASCII but
// the colon), not empty.
func validName(s string) bool {
	if s == "" || len(s) > 998 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 33 || s[i] > 126 || s[i] == ':' {
			return false
		}
	}
	return true
}

// newField makes the field a milter asked for. The value's line ends
// (LF, CRLF or CR) become CRLF folds; a continuation line that does not
// start with white space gets a TAB and blank lines are dropped, so a
// value can never end the header section or start a field of its own.
func newField(name, value string) field {
	value = strings.ReplaceAll(value, "\r\n", "\n")
	value = strings.ReplaceAll(value, "\r", "\n")
	lines := strings.Split(value, "\n")
	var b strings.Builder
	b.WriteString(name)
	b.WriteString(":")
	first := strings.TrimLeft(lines[0], " \t")
	if first != "" {
		b.WriteString(" ")
		b.WriteString(first)
	}
	for _, l := range lines[1:] {
		if strings.TrimSpace(l) == "" {
			continue
		}
		b.WriteString("\r\n")
		if l[0] != ' ' && l[0] != '\t' {
			b.WriteString("\t")
		}
		b.WriteString(l)
	}
	b.WriteString("\r\n")
	return field{name: name, raw: []byte(b.String())}
}

// addHeader appends a field (SMFIR_ADDHEADER).
func (m *message) addHeader(name, value string) {
	m.fields = append(m.fields, newField(name, value))
	m.separate()
}

// separate gives an edited message the blank line between header and
// body when it had none: its body began with a line that was not a
// field, which might otherwise read as a continuation of a new one.
func (m *message) separate() {
	if !m.sep && len(m.body) > 0 {
		m.sep = true
	}
}

// insertHeader puts a field at position index of the header section
// (SMFIR_INSHEADER): 0 is the top, past the end appends.
func (m *message) insertHeader(index uint32, name, value string) {
	i := int(min(index, uint32(len(m.fields))))
	m.fields = append(m.fields, field{})
	copy(m.fields[i+1:], m.fields[i:])
	m.fields[i] = newField(name, value)
	m.separate()
}

// changeHeader replaces the index-th field named name (1-based, case
// insensitive; Sendmail treats 0 as 1) or, with an empty value, deletes
// it (SMFIR_CHGHEADER). Deleting takes the field out, so later indexes
// count the fields that are left. Changing a field
// that is not there adds it; deleting one that is not there does
// nothing (libmilter's smfi_chgheader).
func (m *message) changeHeader(index uint32, name, value string) {
	if index == 0 {
		index = 1
	}
	var seen uint32
	for i, f := range m.fields {
		if !strings.EqualFold(f.name, name) {
			continue
		}
		seen++
		if seen != index {
			continue
		}
		if value == "" {
			m.fields = append(m.fields[:i], m.fields[i+1:]...)
		} else {
			m.fields[i] = newField(f.name, value)
		}
		return
	}
	if value != "" {
		m.addHeader(name, value)
	}
}

// replaceBody sets the body (SMFIR_REPLBODY, all chunks joined), line
// ends made CRLF: umbra queues no bare CR or LF.
func (m *message) replaceBody(b []byte) {
	m.body = crlf(b)
	m.sep = true
}

// crlf turns every bare LF and bare CR into CRLF.
func crlf(b []byte) []byte {
	if !hasBareLineEnd(b) {
		return b // no copy of a body already in CRLF
	}
	out := make([]byte, 0, len(b)+len(b)/32)
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case c == '\r' && i+1 < len(b) && b[i+1] == '\n':
			out = append(out, '\r', '\n')
			i++
		case c == '\r' || c == '\n':
			out = append(out, '\r', '\n')
		default:
			out = append(out, c)
		}
	}
	return out
}

// hasBareLineEnd reports whether b has a CR not followed by LF or an LF
// not preceded by CR.
func hasBareLineEnd(b []byte) bool {
	for i, c := range b {
		switch {
		case c == '\r' && (i+1 == len(b) || b[i+1] != '\n'):
			return true
		case c == '\n' && (i == 0 || b[i-1] != '\r'):
			return true
		}
	}
	return false
}
