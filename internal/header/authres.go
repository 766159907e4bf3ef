package header

import (
	"bytes"
	"strings"
	"unicode"
)

// AuthResults is the Authentication-Results header field (RFC 8601).
const AuthResults = "Authentication-Results"

// AuthservID returns the authserv-id an Authentication-Results value
// claims (RFC 8601 §2.2): the first value (token or quoted-string) after
// any comments, white space and line ends, without the optional
// authres-version that may follow it; "" if there is none.
func AuthservID(v string) string {
	i := SkipCFWS(v, 0)
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

// SkipCFWS skips white space, line ends and (nested) comments of v
// from index i (RFC 5322 CFWS) and returns the index after them.
func SkipCFWS(v string, i int) int {
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
	return RemoveAuthResultsExcept(msg, nil, ids...)
}

// UmbraAuthResults returns the raw Authentication-Results fields of msg
// (name, value and line end) whose authserv-id is one of ids.
func UmbraAuthResults(msg []byte, ids ...string) [][]byte {
	var out [][]byte
	for f := (fieldWalk{msg: msg}); f.next(); {
		if !nameIs(f.name, AuthResults) {
			continue
		}
		raw := msg[f.start:f.end]
		if claims(string(raw[bytes.IndexByte(raw, ':')+1:]), ids) {
			out = append(out, raw)
		}
	}
	return out
}

// RemoveAuthResultsExcept is RemoveAuthResults keeping the fields equal
// (byte for byte) to one of keep, each of keep matching one field.
func RemoveAuthResultsExcept(msg []byte, keep [][]byte, ids ...string) ([]byte, int) {
	keep = append([][]byte(nil), keep...)
	var out []byte
	last, n := 0, 0
	for f := (fieldWalk{msg: msg}); f.next(); {
		if !nameIs(f.name, AuthResults) {
			continue
		}
		raw := msg[f.start:f.end]
		if !claims(string(raw[bytes.IndexByte(raw, ':')+1:]), ids) {
			continue
		}
		if k := indexBytes(keep, raw); k >= 0 {
			keep = append(keep[:k], keep[k+1:]...)
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

// claims reports whether a field whose value is v claims one of ids,
// its authserv-id read as AuthservID reads it, as RFC 8601 §2.2's token
// (RFC 2045 §5.1: it ends at a tspecial): "mx.corp.test/1",
// "mx.corp.test:25" are umbra's id with something glued to it to a
// reader that parses the token, so they are removed as umbra's
// (TestAuthservIDLookalikesRemoved). A Unicode space ends it too, as
// it does to a reader that splits on Unicode white space (Go's
// strings.Fields, Python's str.split): "mx.corp.test", a no-break space
// and more is umbra's id and a version to it
// (TestAuthservIDUnicodeSpaceGlueRemoved). And as a reader that
// deletes comments before it reads the id: "mx.corp(x).test" is
// umbra's id to it (TestAuthservIDCommentInsideRemoved).
func claims(v string, ids []string) bool {
	id := AuthservID(v)
	bare := AuthservID(commentsDeleted(v))
	token := id
	if i := strings.IndexFunc(token, func(r rune) bool {
		return strings.ContainsRune(`<>@,:\/[]?=`, r) || unicode.IsSpace(r)
	}); i >= 0 {
		token = token[:i]
	}
	for _, x := range ids {
		if SameAuthservID(id, x) || SameAuthservID(token, x) || SameAuthservID(bare, x) {
			return true
		}
	}
	return false
}

// SameAuthservID compares two authserv-ids as domain names: case
// folded, a final dot ignored ("mx.corp.test." is "mx.corp.test").
// It also reads them as a lenient reader might — backslashes dropped,
// Unicode spaces around them trimmed — so that a lookalike claim such as
// mx\.corp.test, or mx.corp.test followed by a no-break space, counts
// as umbra's id and is removed. An empty id matches nothing.
func SameAuthservID(a, b string) bool {
	a, b = lenientID(a), lenientID(b)
	return a != "" && b != "" && strings.EqualFold(a, b)
}

func lenientID(s string) string {
	s = strings.ReplaceAll(s, `\`, "")
	return strings.TrimSuffix(strings.TrimFunc(s, unicode.IsSpace), ".")
}

func indexBytes(list [][]byte, b []byte) int {
	for i, x := range list {
		if bytes.Equal(x, b) {
			return i
		}
	}
	return -1
}
