package header

import (
	"bytes"
	"strings"
)

// AuthResults is the Authentication-Results header field (RFC 8601).
const AuthResults = "Authentication-Results"

// AuthservID returns the authserv-id an Authentication-Results value
// claims (RFC 8601 §2.2): the first value (token or quoted-string) after
// any comments, white space and line ends, without the optional
// authres-version that may follow it; "" if there is none.
func AuthservID(v string) string {
	i := skipCFWS(v, 0)
	if i >= len(v) {
		return ""
	}
	if v[i] == '"' {
		var b strings.Builder
		for j := i + 1; j < len(v); j++ {
			switch v[j] {
			case '\\':
				if j+1 < len(v) {
					j++
					b.WriteByte(v[j])
				}
			case '"':
				return b.String()
			default:
				b.WriteByte(v[j])
			}
		}
		return "" // unterminated
	}
	j := i
	for j < len(v) && !strings.ContainsRune(" \t\r\n;()\"", rune(v[j])) {
		j++
	}
	return v[i:j]
}

// skipCFWS skips white space, line ends and (nested) comments from i.
func skipCFWS(v string, i int) int {
	depth := 0
	for i < len(v) {
		c := v[i]
		switch {
		case depth > 0 && c == '\\':
			i++
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth == 0 && c != ' ' && c != '\t' && c != '\r' && c != '\n':
			return i
		}
		i++
	}
	return i
}

// RemoveAuthResults returns msg without the Authentication-Results fields
// whose authserv-id is one of ids (compared case-insensitively; empty ids
// are ignored), and how many it removed. Other servers' results stay, and
// so do ARC-Authentication-Results fields. When none is removed, msg
// itself is returned (no copy).
func RemoveAuthResults(msg []byte, ids ...string) ([]byte, int) {
	fs, _ := fields(msg)
	var out []byte
	last, n := 0, 0
	for _, f := range fs {
		if !strings.EqualFold(f.name, AuthResults) {
			continue
		}
		raw := msg[f.start:f.end]
		id := AuthservID(string(raw[bytes.IndexByte(raw, ':')+1:]))
		if !claims(id, ids) {
			continue
		}
		if out == nil {
			out = make([]byte, 0, len(msg))
		}
		out = append(out, msg[last:f.start]...)
		last = f.end
		n++
	}
	if out == nil {
		return msg, 0
	}
	return append(out, msg[last:]...), n
}

func claims(id string, ids []string) bool {
	if id == "" {
		return false
	}
	for _, x := range ids {
		if x != "" && strings.EqualFold(id, x) {
			return true
		}
	}
	return false
}
