package msgauth

import (
	"regexp"
	"strings"

	"umbra/internal/header"
)

// The Authentication-Results header field (RFC 8601).

// authservID returns the authserv-id an Authentication-Results value
// claims (header.AuthservID: the front door removes forged ones with the
// same parser).
func authservID(v string) string { return header.AuthservID(v) }

// result is one method's result in the header.
type result struct {
	method  string // spf, dkim, dmarc, arc
	value   string // pass, fail, none, …
	note    string // umbra's own words (p=…, i=N, the override), shown first in the comment
	comment string // a check's reason, shown in the comment through commentText
	props   [][2]string
}

// formatAuthResults writes the header field, folded one result a line.
func formatAuthResults(id string, rs []result) []byte {
	var b strings.Builder
	b.WriteString("Authentication-Results: ")
	b.WriteString(id)
	if len(rs) == 0 {
		b.WriteString("; none\r\n")
		return []byte(b.String())
	}
	for _, r := range rs {
		b.WriteString(";\r\n\t")
		b.WriteString(r.method)
		b.WriteByte('=')
		b.WriteString(r.value)
		c := commentText(r.comment)
		if r.note != "" {
			c = strings.TrimSpace(r.note + " " + c)
		}
		if c != "" {
			b.WriteString(" (")
			b.WriteString(c)
			b.WriteByte(')')
		}
		for _, p := range r.props {
			if p[1] == "" {
				continue
			}
			b.WriteByte(' ')
			b.WriteString(p[0])
			b.WriteByte('=')
			b.WriteString(pvalue(p[1]))
		}
	}
	b.WriteString("\r\n")
	return []byte(b.String())
}

// dnsServer matches the resolver's address in a DNS error's text
// ("lookup NAME on 10.0.0.53:53: …"): the header goes to recipients,
// the organisation's resolver addresses do not.
var dnsServer = regexp.MustCompile(`(lookup \S+) on \S+:`)

// commentText is the one way a check's reason (text of the message or
// of a DNS record among it) reaches an Authentication-Results comment or
// a refusal's reply: printable ASCII that cannot end or nest the
// comment — a control or non-ASCII byte, a parenthesis or a backslash
// as a space (reasonSpace) —, and "=", ";" and quotes as "?", so that no
// parser searching the field's text reads a result in it (an ARC set's
// d= or cv= quoted in "key …" or "i=1 cv=…" included).
func commentText(s string) string {
	s = dnsServer.ReplaceAllString(s, "$1:")
	var b strings.Builder
	for _, r := range s {
		switch {
		case reasonSpace(r):
			r = ' '
		case r == '=' || r == ';' || r == '"':
			r = '?'
		}
		b.WriteRune(r)
	}
	out := strings.Join(strings.Fields(b.String()), " ")
	if len(out) > 200 {
		out = out[:200]
	}
	return out
}

// reasonSpace: a character a reason shows as a space — a control or
// non-ASCII character (a byte that is not UTF-8 reads as U+FFFD), a
// parenthesis, a backslash. commentText and quoteShort both ask it, so
// a reason says the same whichever way its text came.
func reasonSpace(r rune) bool {
	return r < ' ' || r > '~' || r == '(' || r == ')' || r == '\\'
}

// pvalue writes a property value as a token, or quoted when it is not
// one. The field is ASCII: a control character or a character above
// ASCII left (a domain property is already an A-label: propDomain) is
// written as '?', one for each character, never dropped: dropping it
// named another, real-looking value ("ceo@bnk.test" for ceo@bänk.test).
func pvalue(s string) string {
	token := s != ""
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>,;:\"/[]?=`, c) >= 0 {
			token = false
		}
	}
	if token {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r < ' ' || r >= 0x7f:
			r = '?'
		case r == '"' || r == '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteByte('"')
	return b.String()
}
