package mailaddr

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// RFC 3461 §4 xtext, the one encoder and decoder of umbra's: an ORCPT
// value (smtp), a partial discard's recipient on the wire (queue).
// Written with upper-case hex digits, as the RFC says; read in either
// case, as a peer may write them.

const upperHex = "0123456789ABCDEF"

// AppendXtext appends s as xtext: every byte outside "!" to "~", and "+"
// and "=", as "+" and two upper-case hex digits.
func AppendXtext(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= '!' && c <= '~' && c != '+' && c != '=' {
			dst = append(dst, c)
			continue
		}
		dst = append(dst, '+', upperHex[c>>4], upperHex[c&15])
	}
	return dst
}

// Xtext is s as xtext (AppendXtext).
func Xtext(s string) string { return string(AppendXtext(nil, s)) }

// DecodeXtext decodes xtext: "+" and two hex digits (either case) stand
// for a byte, any other character from "!" to "~" but "=" for itself;
// ok is false for anything else.
func DecodeXtext(s string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '+':
			if i+2 >= len(s) {
				return "", false
			}
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if !ok1 || !ok2 {
				return "", false
			}
			b.WriteByte(hi<<4 | lo)
			i += 2
		case c < '!' || c > '~' || c == '=':
			return "", false
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), true
}

// unhex is the value of the hex digit c, either case.
func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// Atext reports whether c is RFC 5322 atext in ASCII.
func Atext(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// LocalDots is what is wrong with the dots of an unquoted local part
// (RFC 5321 §4.1.2: a Dot-string is atoms joined by single dots): "local
// part starts with a dot", "… ends with a dot", "… has two dots in a
// row", or "" when its dots are right. A quoted local part's content is
// QuotedLocalDots's. The words are fixed (they name no client text), so
// a reply may carry them.
func LocalDots(s string) string {
	switch {
	case strings.HasPrefix(s, "."):
		return "local part starts with a dot"
	case strings.HasSuffix(s, "."):
		return "local part ends with a dot"
	case strings.Contains(s, ".."):
		return "local part has two dots in a row"
	}
	return ""
}

// QuotedLocalDots is what is wrong with the dots of a quoted local
// part's content (its quotes gone, a quoted-pair "\." a dot too), in
// LocalDots's words. RFC 5321 lets a Quoted-string hold dots anywhere;
// umbra judges them as a dot-string's, the words between the dots being
// any text but blank: a word that is empty or only spaces is a dot
// first (".. x", " .x"), last ("x. ") or doubled ("a..b c", "a. .b").
// So no local part, quoted or not, reads as a path's "." or "..".
func QuotedLocalDots(content string) string {
	words := strings.Split(content, ".")
	if len(words) == 1 {
		return ""
	}
	blank := func(w string) bool { return strings.Trim(w, " ") == "" }
	switch {
	case blank(words[0]):
		return "local part starts with a dot"
	case blank(words[len(words)-1]):
		return "local part ends with a dot"
	}
	for _, w := range words[1 : len(words)-1] {
		if blank(w) {
			return "local part has two dots in a row"
		}
	}
	return ""
}

// DomainDots is what is wrong with the dots of a domain name (RFC 5321
// §4.1.2: sub-domains joined by single dots; a final dot is allowed):
// "domain starts with a dot", "domain has two dots in a row", or "".
// Fixed words, as LocalDots'.
func DomainDots(s string) string {
	switch {
	case strings.HasPrefix(s, "."):
		return "domain starts with a dot"
	case strings.Contains(s, ".."):
		return "domain has two dots in a row"
	}
	return ""
}

// DotAtomLocal reports whether s is a dot-atom local part of at most 64
// octets: RFC 5322 atext, and UTF-8 letters for SMTPUTF8 (RFC 6531),
// no leading, trailing or doubled dot.
func DotAtomLocal(s string) bool {
	if len(s) == 0 || len(s) > 64 || LocalDots(s) != "" || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		switch {
		case r < utf8.RuneSelf && (r == '.' || Atext(byte(r))):
		case r >= 0x80 && r != utf8.RuneError && r != 0x85 && r != 0xa0:
		default:
			return false
		}
	}
	return true
}

// UTF8AddrXtext is the address s written as RFC 6533 §3 utf-8-addr-xtext
// or, with unitext, utf-8-addr-unitext: every character outside "!" to
// "~", and "+", "=" and "\", as "\x{" its code point in upper-case hex
// (at least two digits) "}", but with unitext a non-ASCII character
// stays as it is (a C1 control too is written \x{…}). The xtext form is
// printable ASCII without "+" and "=", the unitext form the same plus
// UTF-8: an encoder that passes such characters on leaves either
// unchanged. Each run of invalid UTF-8 is written as U+FFFD. The one
// encoder of the form: an ORCPT on the wire (smtp.Client.Rcpt) and a
// DSN's typed-address fields (queue).
func UTF8AddrXtext(s string, unitext bool) string {
	var b []byte
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch {
		case r >= '!' && r <= '~' && r != '+' && r != '=' && r != '\\':
			b = append(b, byte(r))
		case unitext && r >= 0xa0:
			b = utf8.AppendRune(b, r)
		default:
			b = append(b, '\\', 'x', '{')
			if r < 0x10 {
				b = append(b, '0')
			}
			b = strconv.AppendUint(b, uint64(r), 16)
			for i := len(b) - 1; i >= 0 && b[i] != '{'; i-- {
				if b[i] >= 'a' && b[i] <= 'f' {
					b[i] -= 'a' - 'A'
				}
			}
			b = append(b, '}')
		}
	}
	return string(b)
}
