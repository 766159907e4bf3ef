package queue

import "strings"

// MaxMessageIDLen is how much of a message's Message-ID umbra keeps
// (Message.MessageID, the tracking log, the dumpster): RFC 5322's line
// limit, 998 octets. Mail may carry a longer one (a field folded over
// lines); a search compares as much of the id it is given (CutMessageID),
// so that the whole id, as the operator has it from the message, finds
// it.
const MaxMessageIDLen = 998

// CutMessageID is v as umbra keeps a Message-ID, and as a search for
// one compares it: the one function every reader of the field (receipt,
// pickup, a discarded message's event) and every search (tracking, the
// dumpster) goes through. A msg-id (v holds "<…>") is unfolded and the
// comments and white space (CFWS, RFC 5322 §3.2.2) around and inside it
// removed — quoted text inside it is kept as written — so that a field
// folded inside the id (`<a@` CRLF ` example.org>`) is found by the id
// an operator copies (rt21d L6); anything else is only unfolded and
// trimmed. Then at most MaxMessageIDLen octets are kept.
func CutMessageID(v string) string {
	v = messageIDForm(v)
	if len(v) > MaxMessageIDLen {
		return v[:MaxMessageIDLen]
	}
	return v
}

// messageIDForm is CutMessageID's form of v before the cut.
func messageIDForm(v string) string {
	plain := strings.TrimSpace(strings.NewReplacer("\r\n", "", "\r", "", "\n", "").Replace(v))
	if !strings.Contains(plain, "<") || !strings.Contains(plain, ">") ||
		!strings.ContainsAny(plain, " \t(") {
		return plain
	}
	var b strings.Builder
	depth, quoted, escaped := 0, false, false
	for i := 0; i < len(plain); i++ {
		c := plain[i]
		switch {
		case escaped:
			escaped = false
			if depth == 0 {
				b.WriteByte(c)
			}
		case c == '\\' && (quoted || depth > 0):
			escaped = true
			if depth == 0 {
				b.WriteByte(c)
			}
		case depth > 0:
			if c == '(' {
				depth++
			} else if c == ')' {
				depth--
			}
		case quoted:
			b.WriteByte(c)
			quoted = c != '"'
		case c == '(':
			depth = 1
		case c == '"':
			quoted = true
			b.WriteByte(c)
		case c == ' ' || c == '\t':
		default:
			b.WriteByte(c)
		}
	}
	if out := b.String(); strings.Contains(out, "<") {
		return out
	}
	return plain
}
