package header

import (
	"strings"
	"unicode/utf8"
)

// fieldWalk goes through the header section's fields one at a time,
// exactly as fields lists them, without building the list: Count and
// Remove run on every received message, and a header section of
// max_header_size in short fields would otherwise cost a field and a
// name string each, several times per message.
type fieldWalk struct {
	msg        []byte
	pos        int
	name       []byte // the field next found
	start, end int    // its first line's start, its last line's end
}

// next finds the next field; false at the end of the header section.
func (w *fieldWalk) next() bool {
	for w.pos < len(w.msg) {
		e := lineEnd(w.msg, w.pos)
		line := trimEOL(w.msg[w.pos:e])
		if len(line) == 0 {
			w.pos = len(w.msg) // the empty line ends the header section
			return false
		}
		kind, n := FieldStart(line) // a line starting with a blank is none
		if kind != Field {
			// The body's first line (or one continuing no field): the
			// header section ends here, as fields ends it.
			w.pos = len(w.msg)
			return false
		}
		start := w.pos
		w.pos = e
		w.name, w.start = line[:n], start
		for w.pos < len(w.msg) { // its continuation lines
			e := lineEnd(w.msg, w.pos)
			l := trimEOL(w.msg[w.pos:e])
			if len(l) == 0 || l[0] != ' ' && l[0] != '\t' {
				break
			}
			w.pos = e
		}
		w.end = w.pos
		return true
	}
	return false
}

// nameIs: the field name n equals name as strings.EqualFold decides.
func nameIs(n []byte, name string) bool {
	if len(n) == len(name) {
		for i := 0; i < len(n); i++ {
			a, b := n[i], name[i]
			if a >= utf8.RuneSelf || b >= utf8.RuneSelf {
				return strings.EqualFold(string(n), name)
			}
			if lowerASCII(a) != lowerASCII(b) {
				return false
			}
		}
		return true
	}
	for i := 0; i < len(n); i++ {
		if n[i] >= utf8.RuneSelf {
			return strings.EqualFold(string(n), name)
		}
	}
	for i := 0; i < len(name); i++ {
		if name[i] >= utf8.RuneSelf {
			return strings.EqualFold(string(n), name)
		}
	}
	return false
}

func lowerASCII(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
