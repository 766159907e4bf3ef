package smtp

import (
	"bytes"
	"strings"

	"umbra/internal/mailaddr"
)

// mailLine is a MAIL command line read once: the command up to the end
// of its path, and the parameters after the path, in their order (RFC
// 5321 §4.1.2: esmtp-keyword["=" esmtp-value], separated by spaces). The
// layer's steps on MAIL (verbConn.mailParams) read and change it — the
// declared size, the shadow parameters taken off for the session, the
// keywords given twice — and go-smtp gets bytes(): the line as the client
// wrote it unless a step changed a parameter. What lies inside the path
// (a quoted local part with a space and "SIZE=") is never a parameter.
type mailLine struct {
	orig    []byte
	head    []byte // the command up to the end of its path, as written
	path    int    // where the path starts in head (len(head) without one)
	params  []mailParam
	changed bool
}

// mailParam is one parameter: its name and value as written, and its
// name upper-cased for comparison (strings.ToUpper, as go-smtp's
// parseArgs keys its map: non-ASCII letters too).
type mailParam struct {
	name, key, value string
	hasValue         bool
}

// nameOrWritten names the parameter in a reply: its name as written,
// or where that is empty ("=x") the whole of it — never an empty name
// (front47 F2).
func (p mailParam) nameOrWritten() string {
	if p.name != "" {
		return p.name
	}
	return p.written()
}

// written is the parameter as the client wrote it ("=x", "SIZE=5=5").
func (p mailParam) written() string {
	if p.hasValue {
		return p.name + "=" + p.value
	}
	return p.name
}

// parseMailLine reads line (with or without its CRLF). A line without a
// complete path has no parameters: go-smtp refuses it.
func parseMailLine(line []byte) mailLine {
	ml := mailLine{orig: line}
	s := bytes.TrimRight(line, "\r\n")
	start, end := pathSpan(s)
	if end < 0 {
		ml.head, ml.path = s, len(s)
		return ml
	}
	ml.head, ml.path = s[:end], start
	ml.params = splitParams(string(s[end:]))
	return ml
}

// pathEnd is the index in a MAIL or RCPT line just past its path, as
// go-smtp reads it after the colon: "<>", a <path> (past any quoted
// local part), or a path without angle brackets up to the first space
// outside quotes; -1 when the line holds no complete path.
func pathEnd(s []byte) int {
	_, end := pathSpan(s)
	return end
}

// pathSpan is where the path of a MAIL or RCPT line starts (after the
// colon and any spaces or tabs) and ends (pathEnd); -1, -1 when the line
// holds no complete path.
func pathSpan(s []byte) (start, end int) {
	colon := bytes.IndexByte(s, ':')
	if colon < 0 {
		return -1, -1
	}
	i := colon + 1
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	if i == len(s) {
		return -1, -1
	}
	start = i
	bracket, quoted := s[i] == '<', false
	if bracket {
		i++
	}
	for ; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case c == '>' && bracket && !quoted:
			return start, i + 1
		case (c == ' ' || c == '\t') && !bracket && !quoted:
			return start, i
		}
	}
	if bracket || quoted {
		return -1, -1
	}
	return start, len(s)
}

// pathBytes is the line's path as written ("<postmaster>"), empty when
// the line holds no complete path.
func (ml *mailLine) pathBytes() []byte { return ml.head[ml.path:] }

// strayBracket is the angle bracket the line's path, written without
// angle brackets, holds outside a quoted local part (0 for none) ("alice@example.test>",
// "a<b@example.test"): a malformed path, refused as such (501 5.1.3 or
// 5.1.7, replyBadRcpt and replyBadSender) — go-smtp would read the stray
// ">" as a parameter it does not know and answer 555.
func (ml *mailLine) strayBracket() byte {
	p := ml.pathBytes()
	if len(p) == 0 || p[0] == '<' {
		return 0
	}
	quoted := false
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case (c == '<' || c == '>') && !quoted:
			return c
		}
	}
	return 0
}

// postmasterPath reports whether the line's path is postmaster without
// a domain (RFC 5321 §4.1.1.3), in angle brackets or not.
func (ml *mailLine) postmasterPath() bool {
	p := ml.pathBytes()
	if len(p) >= 2 && p[0] == '<' && p[len(p)-1] == '>' {
		p = p[1 : len(p)-1]
	}
	return len(p) > 0 && mailaddr.IsPostmaster(string(p))
}

// pathFault says what is wrong with the line's path written in angle
// brackets, in words a malformed-path reply gives after "Bad recipient
// (sender) address syntax: " (501 5.1.3, 5.1.7); "" when nothing the
// layer reads is (the address itself is judged by the session:
// ParseAddress). go-smtp refused these with its own text ("Was
// expecting RCPT arg syntax of TO:<address>"), and read a stray ">"
// after the path as a parameter (front47 F2). rcpt: a RCPT line, where
// <postmaster> needs no domain (RFC 5321 §4.1.1.3).
func (ml *mailLine) pathFault(rcpt bool) string {
	s := bytes.TrimRight(ml.orig, "\r\n")
	p := ml.pathBytes()
	if len(p) == 0 {
		if start := bytes.IndexByte(s, ':'); start >= 0 {
			if rest := bytes.TrimLeft(s[start+1:], " \t"); len(rest) > 0 && rest[0] == '<' {
				if openQuote(rest[1:]) {
					// Its '>' is inside the quotes (pathSpan): the
					// client wrote one, the quote is what is open.
					return "an unterminated quoted local part"
				}
				return "no '>' ending the path"
			}
		}
		return ""
	}
	if p[0] != '<' {
		return ""
	}
	in := p[1 : len(p)-1]
	quoted, at := false, false
	for i := 0; i < len(in); i++ {
		switch c := in[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '<':
			return "a second '<' in the path"
		case c == ' ' || c == '\t':
			return "a space in the address"
		case c == '@':
			at = true
		}
	}
	if after := s[len(ml.head):]; len(after) > 0 && (after[0] == '>' || after[0] == '<') {
		return "a stray '" + string(after[0]) + "' after the path"
	}
	switch {
	case len(in) == 0, in[0] == '@': // <> (its own checks), a source route (go-smtp's reading)
		return ""
	case !at && !(rcpt && mailaddr.IsPostmaster(string(in))):
		return "no '@' and domain"
	case !at:
		return ""
	}
	return mailboxFault(in)
}

// openQuote says whether b ends inside a quoted string, read as pathSpan
// reads a path (a backslash in quotes escapes the next byte).
func openQuote(b []byte) bool {
	quoted := false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		}
	}
	return quoted
}

// mailboxFault says what go-smtp's reading of a mailbox (its parser:
// a quoted string or a dot-string, "@", a domain) would fail on in in,
// the path's content holding an "@" outside quotes, no space and no
// second "<"; "" when it reads it (the session judges the address).
func mailboxFault(in []byte) string {
	i := 0
	if in[0] == '"' {
		for i = 1; i < len(in) && in[i] != '"'; i++ {
			if in[i] == '\\' {
				i++
			}
		}
		if i >= len(in) {
			return "an unterminated quoted local part"
		}
		if i == 1 {
			return "an empty local part"
		}
		i++
		if i == len(in) || in[i] != '@' {
			return "no '@' and domain after the quoted local part"
		}
	} else {
		for ; in[i] != '@'; i++ {
			switch c := in[i]; c {
			case '(', ')', '>', '[', ']', ':', ';', '\\', ',', '"':
				return "a '" + string(c) + "' in the local part (quote the local part)"
			}
		}
		if i == 0 {
			return "an empty local part"
		}
	}
	if i == len(in)-1 {
		return "no domain after '@'"
	}
	return ""
}

// setPath replaces the line's path (only the path: the command before it
// stays as the client wrote it, for go-smtp to read as it would have).
func (ml *mailLine) setPath(p string) {
	ml.head = append(append(make([]byte, 0, ml.path+len(p)), ml.head[:ml.path]...), p...)
	ml.changed = true
}

// splitParams splits the parameters after a path.
func splitParams(rest string) []mailParam {
	fields := strings.Fields(rest)
	if len(fields) == 0 {
		return nil
	}
	ps := make([]mailParam, len(fields))
	for i, f := range fields {
		name, v, has := strings.Cut(f, "=")
		ps[i] = mailParam{name: name, key: strings.ToUpper(name), value: v, hasValue: has}
	}
	return ps
}

// take removes the parameters named key (upper-case) and returns them.
func (ml *mailLine) take(key string) []mailParam {
	var out []mailParam
	keep := ml.params[:0]
	for _, p := range ml.params {
		if p.key == key {
			out = append(out, p)
			continue
		}
		keep = append(keep, p)
	}
	if len(out) > 0 {
		ml.params, ml.changed = keep, true
	}
	return out
}

// bytes is the line go-smtp gets: the one the client wrote when no step
// changed it, else the head and the parameters left, CRLF-terminated.
func (ml *mailLine) bytes() []byte {
	if !ml.changed {
		return ml.orig
	}
	b := bytes.NewBuffer(make([]byte, 0, len(ml.orig)))
	b.Write(ml.head)
	for _, p := range ml.params {
		b.WriteByte(' ')
		b.WriteString(p.name)
		if p.hasValue {
			b.WriteByte('=')
			b.WriteString(p.value)
		}
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// saysSMTPUTF8 reports whether params hold SMTPUTF8 (RFC 6531 §3.4): the
// client may be answered in UTF-8 (utf8Transaction).
func saysSMTPUTF8(params []mailParam) bool {
	for _, p := range params {
		if p.key == "SMTPUTF8" {
			return true
		}
	}
	return false
}
