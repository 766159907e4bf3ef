package smtp

import (
	"bytes"
	"unicode"
	"unicode/utf8"
)

// echoText is client text (an EHLO/HELO name, a MAIL or RCPT path) as a
// reply echoes it: reply text is printable ASCII (RFC 5321 §4.2), so
// every other byte — a control, DEL, any byte past ASCII, UTF-8 or not —
// is written as the text \xNN (lower-case hex). So that the text \xNN a
// client wrote does not read as that byte, a run of backslashes followed
// by x and two hex digits, or by a byte written \xNN, is written doubled:
// the one escape rule of umbra's logs and CLI (jsonsafe.TextBytes), with
// "written \xNN" meaning here everything outside printable ASCII. An odd
// run before xNN ends in a byte, an even one in text.
//
// It is bounded: past maxEcho characters the text is cut, never inside
// an escape, a character or a backslash run, and ends in echoCut, so
// that a reply line stays within RFC 5321's 512 octets (§4.5.3.1.5)
// however long what the client wrote.
func echoText(s []byte) []byte { return echoTextIn(s, false) }

// echoUTF8 is echoText for the reply to a MAIL that said SMTPUTF8 (taken
// or refused) and to the RCPTs of its transaction (utf8Transaction):
// there a reply may carry UTF-8 (RFC 6531 §3.7.4), so a
// well-formed UTF-8 character that is graphic (unicode.IsGraphic: no C1
// control, no line or paragraph separator, no format character such as
// a bidi override) is written as it is — the client's address echoed as
// the client wrote it —, and every other byte as echoText writes it.
func echoUTF8(s []byte) []byte { return echoTextIn(s, true) }

// rawRune is the length of the graphic UTF-8 character s begins with
// that a reply may carry raw (utf8ok), or 0.
func rawRune(s []byte, utf8ok bool) int {
	if !utf8ok || len(s) == 0 || s[0] < 0x80 {
		return 0
	}
	r, n := utf8.DecodeRune(s)
	if r == utf8.RuneError || !unicode.IsGraphic(r) {
		return 0
	}
	return n
}

func echoTextIn(s []byte, utf8ok bool) []byte {
	clean := len(s) <= maxEcho
	for i := 0; clean && i < len(s); i++ {
		if n := rawRune(s[i:], utf8ok); n > 0 {
			i += n - 1
			continue
		}
		if c := s[i]; c < 0x20 || c > 0x7e || c == '\\' && i+1 < len(s) && (s[i+1] == 'x' || s[i+1] == '\\' || !printable(s[i+1]) && rawRune(s[i+1:], utf8ok) == 0) {
			clean = false
		}
	}
	if clean {
		return s
	}
	out := make([]byte, 0, min(len(s), maxEcho)+16)
	for i := 0; i < len(s); {
		c, at := s[i], len(out)
		switch n := rawRune(s[i:], utf8ok); {
		case n > 0:
			out = append(out, s[i:i+n]...)
			i += n
		case c == '\\':
			end := i
			for end < len(s) && s[end] == '\\' {
				end++
			}
			out = append(out, s[i:end]...)
			if end < len(s) && (!printable(s[end]) && rawRune(s[end:], utf8ok) == 0 ||
				end+3 <= len(s) && s[end] == 'x' && isHexDigit(s[end+1]) && isHexDigit(s[end+2])) {
				out = append(out, s[i:end]...)
			}
			i = end
		case printable(c):
			out = append(out, c)
			i++
		default:
			out = append(out, '\\', 'x', hexDigit[c>>4], hexDigit[c&0xf])
			i++
		}
		if len(out) > maxEcho {
			// This unit does not fit: cut before it (a backslash run is
			// one unit, its parity is its meaning).
			return append(out[:at], echoCut...)
		}
	}
	return out
}

// maxEcho bounds the characters of client text a reply echoes; echoCut
// marks where it was cut.
const (
	maxEcho = 200
	echoCut = "..."
)

const hexDigit = "0123456789abcdef"

func printable(c byte) bool { return c >= 0x20 && c <= 0x7e }

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// echoPrefixes are go-smtp's replies that echo client text after a fixed
// wording: the EHLO/HELO name, the MAIL path, the RCPT path.
var echoPrefixes = []struct{ before, after string }{
	{"Hello ", ""},
	{"Roger, accepting mail from <", ">"},
	{"I'll make sure <", "> gets this"},
}

// escapeEcho rewrites a reply line of go-smtp's that echoes client text
// with that text in echoText's form (echoUTF8's when utf8ok: the reply
// to a MAIL that said SMTPUTF8 or to a RCPT of its transaction); any other line
// keeps its text, with a byte outside printable ASCII (none is
// expected) written \xNN all the same, so that no reply carries a raw
// byte.
func escapeEcho(b []byte, utf8ok bool) []byte {
	line := bytes.TrimRight(b, "\r\n")
	eol := b[len(line):]
	if len(line) < 4 {
		return b
	}
	for _, p := range echoPrefixes {
		i := bytes.Index(line, []byte(p.before))
		if i < 0 || i > len("250 2.0.0 ") || !bytes.HasSuffix(line, []byte(p.after)) ||
			len(line)-len(p.after) < i+len(p.before) {
			continue
		}
		text := line[i+len(p.before) : len(line)-len(p.after)]
		if p.after != "" {
			// A path: go-smtp echoes a quoted local part unquoted
			// ("an na@…"); the reply names the address as the session
			// took it ("an na"@…, quotePathLocal).
			if q, err := quotePathLocal(string(text)); err == nil && len(q) != len(text) {
				text = []byte(q)
			}
		}
		esc := echoTextIn(text, utf8ok)
		if string(esc) == string(line[i+len(p.before):len(line)-len(p.after)]) {
			return b
		}
		out := append([]byte(nil), line[:i+len(p.before)]...)
		out = append(out, esc...)
		out = append(out, p.after...)
		return append(out, eol...)
	}
	esc := asciiLine(line)
	if utf8ok {
		esc = echoLine(line)
	}
	if len(esc) != len(line) {
		return append(esc, eol...)
	}
	return b
}

// echoLine is asciiLine for a reply that may carry UTF-8 (utf8ok in
// escapeEcho): a graphic UTF-8 character stays as it is, every other
// byte outside printable ASCII is written \xNN.
func echoLine(line []byte) []byte {
	out := make([]byte, 0, len(line)+16)
	for i := 0; i < len(line); {
		if n := rawRune(line[i:], true); n > 0 {
			out = append(out, line[i:i+n]...)
			i += n
			continue
		}
		if c := line[i]; printable(c) {
			out = append(out, c)
		} else {
			out = append(out, '\\', 'x', hexDigit[c>>4], hexDigit[c&0xf])
		}
		i++
	}
	if string(out) == string(line) {
		return line
	}
	return out
}

// asciiLine is a reply line (without its CRLF) with each byte outside
// printable ASCII written \xNN: the backstop for a reply's text that
// is not known to echo client text (a check's or milter's reply text,
// a reply of the verb layer's own), so that no reply carries a raw
// byte. line itself when it is clean.
func asciiLine(line []byte) []byte {
	for _, c := range line {
		if !printable(c) {
			out := make([]byte, 0, len(line)+16)
			for _, c := range line {
				if printable(c) {
					out = append(out, c)
				} else {
					out = append(out, '\\', 'x', hexDigit[c>>4], hexDigit[c&0xf])
				}
			}
			return out
		}
	}
	return line
}

// upperASCII is s with its ASCII letters upper-cased and every other
// byte as it is (strings.ToUpper writes U+FFFD for a byte that is not
// UTF-8, which would hide it).
func upperASCII(s string) []byte {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return b
}
