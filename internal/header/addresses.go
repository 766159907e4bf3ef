package header

import (
	"io"
	"mime"
	"net/mail"
	"strings"
)

// Addresses reads the addresses of an address-list field value (From:,
// RFC 5322 §3.4) as the checks that key on them must agree on it (DMARC's
// author domain, the DKIM signing key): net/mail's reading, with encoded
// words in any charset (only the addresses matter); where net/mail
// refuses the syntax (a domain with a final dot, an IPv6 literal,
// obsolete forms, raw 8-bit), each address as most receivers read it,
// the angle-bracketed one or the bare one. Total: any string gives a
// list, possibly empty.
func Addresses(v string) []string {
	v = strings.TrimSpace(strings.NewReplacer("\r\n", "", "\n", "").Replace(v)) // unfolded
	if list, err := addressParser.ParseList(v); err == nil {
		out := make([]string, 0, len(list))
		for _, a := range list {
			out = append(out, a.Address)
		}
		return out
	}
	return looseAddresses(v)
}

var addressParser = mail.AddressParser{WordDecoder: &mime.WordDecoder{
	CharsetReader: func(_ string, r io.Reader) (io.Reader, error) { return r, nil },
}}

// looseAddresses reads the addresses of a From: value net/mail refuses:
// split at the commas outside quotes, comments, angle and square
// brackets; of each part the angle-bracketed address, or the part
// without comments and a group's display name.
func looseAddresses(v string) []string {
	var parts []string
	depthAngle, depthParen, inQuote, inBracket, start := 0, 0, false, false, 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case inQuote && c == '\\':
			i++
		case c == '"' && depthParen == 0 && !inBracket:
			inQuote = !inQuote
		case inQuote:
		case c == '(' && !inBracket:
			depthParen++
		case c == ')' && depthParen > 0:
			depthParen--
		case depthParen > 0:
		case c == '[':
			inBracket = true
		case c == ']':
			inBracket = false
		case inBracket:
		case c == '<':
			depthAngle++
		case c == '>' && depthAngle > 0:
			depthAngle--
		case (c == ',' || c == ';') && depthAngle == 0:
			parts = append(parts, v[start:i])
			start = i + 1
		}
	}
	parts = append(parts, v[start:])
	var out []string
	for _, p := range parts {
		if i, j := strings.LastIndexByte(p, '<'), strings.LastIndexByte(p, '>'); i >= 0 && j > i {
			p = p[i+1 : j]
		} else {
			p = stripComments(p)
			// A group's display name ("team: a@x.test"): up to a colon
			// before the address's @ (an IPv6 literal's colons follow it).
			if c, at := strings.IndexByte(p, ':'), strings.IndexByte(p, '@'); c >= 0 && (at < 0 || c < at) {
				p = p[c+1:]
			}
		}
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// stripComments removes (comments) outside quoted strings.
func stripComments(s string) string {
	var b strings.Builder
	depth, inQuote := 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inQuote && c == '\\' && i+1 < len(s):
			b.WriteByte(c)
			i++
			c = s[i]
		case c == '"' && depth == 0:
			inQuote = !inQuote
		case !inQuote && c == '(':
			depth++
			continue
		case !inQuote && c == ')' && depth > 0:
			depth--
			continue
		}
		if depth == 0 {
			b.WriteByte(c)
		}
	}
	return b.String()
}
