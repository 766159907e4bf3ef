package queue

import (
	"bytes"
	"slices"
	"strings"
	"unicode/utf8"
)

// maxLine is the longest line RFC 5322 allows (§2.1.1), CRLF not
// counted; 7bit content is held to it too (RFC 2045 §2.7). A receive
// connector takes lines up to its max_line_length (2000 by default), so
// what a DSN returns is held to it here (rt21d L6): a RET=FULL message
// with a longer line comes back as its headers (returnedContent), and a
// header line longer than it is folded or cut (foldLongLines).
const maxLine = 998

// hasLongLine reports whether b has a line longer than maxLine octets.
func hasLongLine(b []byte) bool {
	for len(b) > maxLine {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return len(b) > maxLine
		}
		if line := bytes.TrimSuffix(b[:i], []byte("\r")); len(line) > maxLine {
			return true
		}
		b = b[i+1:]
	}
	return false
}

// foldLongLines returns the header section h with every line at most
// maxLine octets: a longer line is folded before white space, as RFC
// 5322 §2.2.3 allows (the unfolded field is unchanged); where a stretch
// of it has no white space to fold at within the limit, the line is cut
// there (at a character boundary) and the rest of that line left out —
// the field's name is in cut. Folding keeps the field's meaning; a cut
// keeps the report a report: the returned headers are information for
// the sender (text/rfc822-headers), not a message to be sent again.
func foldLongLines(h []byte) (out []byte, cut []string) {
	out = make([]byte, 0, len(h)+len(h)/100+8)
	field := ""
	for len(h) > 0 {
		i := bytes.IndexByte(h, '\n')
		var line []byte
		if i < 0 {
			line, h = h, nil
		} else {
			line, h = h[:i+1], h[i+1:]
		}
		end := []byte(nil)
		if bytes.HasSuffix(line, []byte("\r\n")) {
			line, end = line[:len(line)-2], []byte("\r\n")
		} else if bytes.HasSuffix(line, []byte("\n")) {
			line, end = line[:len(line)-1], []byte("\n")
		}
		if len(line) > 0 && line[0] != ' ' && line[0] != '\t' {
			if name, _, ok := bytes.Cut(line, []byte(":")); ok {
				field = strings.TrimSpace(string(name))
			}
		}
		for len(line) > maxLine {
			at := bytes.LastIndexAny(line[1:maxLine+1], " \t") + 1 // fold before this white space
			if at < 1 || len(bytes.TrimSpace(line[:at])) == 0 {
				n := maxLine
				for n > 0 && !utf8.RuneStart(line[n]) {
					n--
				}
				line = line[:n]
				if !slices.Contains(cut, field) {
					cut = append(cut, field)
				}
				break
			}
			out = append(out, line[:at]...)
			out = append(out, '\r', '\n')
			line = line[at:]
		}
		out = append(out, line...)
		out = append(out, end...)
	}
	return out, cut
}

// foldedText is the human-readable part's text with every line at most
// maxLine octets (a next hop's long reply quoted in it): broken before
// white space as a header line is folded, which a reader does not
// notice.
func foldedText(t string) string {
	if !hasLongLine([]byte(t)) {
		return t
	}
	out, _ := foldLongLines([]byte(t))
	return string(out)
}
