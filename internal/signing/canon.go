package signing

import (
	"crypto/sha256"
	"strings"
)

// The "relaxed" canonicalisations of RFC 6376 §3.4.2 and §3.4.4, written
// for the ARC sets (the DKIM library keeps its own unexported). They read
// bytes the way the library does, so that a message's ARC-Message-
// Signature and its DKIM-Signature see the same canonical form even for
// malformed input (a bare LF is a line break; a bare CR breaks a line's
// whitespace run).

// relaxedHeader: name lower-cased and trimmed, the value's runs of
// whitespace and line breaks made one space, trimmed at both ends, CRLF.
func relaxedHeader(raw string) string {
	k, v, ok := strings.Cut(raw, ":")
	if !ok {
		return strings.TrimSpace(strings.ToLower(raw)) + ":\r\n"
	}
	k = strings.TrimSpace(strings.ToLower(k))
	v = strings.Join(strings.FieldsFunc(v, func(r rune) bool {
		return r == ' ' || r == '\t' || r == '\n' || r == '\r'
	}), " ")
	return k + ":" + v + "\r\n"
}

// relaxedBodyHash is the SHA-256 of body in relaxed canonical form:
// whitespace at line ends removed, runs of whitespace made one space,
// empty lines at the end removed, one CRLF after a non-empty body.
func relaxedBodyHash(body []byte) []byte {
	h := sha256.New()
	out := make([]byte, 0, 4096)
	var crlf []byte
	wsp, written, prevCR := false, false, false
	emit := func(c byte) {
		out = append(out, c)
		if len(out) == cap(out) {
			h.Write(out)
			out = out[:0]
		}
	}
	for _, ch := range body {
		if ch == '\n' && !prevCR {
			crlf = append(crlf, '\r') // a bare LF is a line break
		}
		prevCR = ch == '\r'
		switch ch {
		case ' ', '\t':
			wsp = true
		case '\r', '\n':
			wsp = false
			crlf = append(crlf, ch)
		default:
			for _, c := range crlf {
				emit(c)
			}
			crlf = crlf[:0]
			if wsp {
				emit(' ')
				wsp = false
			}
			emit(ch)
			written = true
		}
	}
	h.Write(out)
	if written {
		h.Write([]byte("\r\n"))
	}
	return h.Sum(nil)
}
