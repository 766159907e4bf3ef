package queue

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"strings"
	"unicode/utf8"

	"umbra/internal/mailaddr"
)

// A DSN must reach the sender over any hop that carries 7-bit mail: the
// hop a message failed on for want of 8BITMIME or SMTPUTF8 (5.6.3,
// 5.6.7) is often the only way to the sender, and a DSN has the null
// sender, so one that fails is never reported to anyone. So a DSN is
// 7-bit unless its envelope needs SMTPUTF8 (the sender's address is not
// ASCII; RFC 6533 then makes it a message/global-delivery-status):
//   - 8-bit content is never returned whole: the header section alone
//     comes back (RET=HDRS semantics, text/rfc822-headers);
//   - a header field with bytes above 127 is RFC 2047-encoded when its
//     body is unstructured text (Subject, Comments, Content-Description,
//     extension fields), and left out, by name in the human-readable
//     part, when it is not (an address or a Received line cannot be
//     encoded);
//   - a non-ASCII recipient address is written as utf-8-addr-xtext
//     (RFC 6533 §3), a remote server's 8-bit reply text with "?" for its
//     8-bit bytes, and the human-readable part is quoted-printable when
//     it holds anything outside ASCII.

// DSNNeedsSMTPUTF8 reports whether a DSN to the sender of m must be sent
// with SMTPUTF8: only when the sender's address is not ASCII.
func DSNNeedsSMTPUTF8(m *Message) bool { return !isASCII(m.From) }

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// Has8bit reports whether b holds a byte above 127: the one 8-bit test
// of the receiving session (8-bit content received as BODY=7BIT is kept
// as 8BITMIME), delivery (BODY=8BITMIME declared to the next hop) and
// the DSNs here. It reads eight bytes at a time.
func Has8bit(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b)&0x8080808080808080 != 0 {
			return true
		}
		b = b[8:]
	}
	for _, c := range b {
		if c >= 0x80 {
			return true
		}
	}
	return false
}

// encodableFields are the fields whose body is unstructured text (RFC
// 5322 §3.6.5, RFC 2045 §8, RFC 2047 §5(1)); X- and other extension
// fields are taken as text too.
var encodableFields = map[string]bool{"subject": true, "comments": true, "content-description": true,
	"thread-topic": true, "organization": true}

// structuredFields are the fields that are never encoded: addresses,
// identifiers, dates, trace and MIME fields, and the signatures over
// them.
var structuredFields = map[string]bool{"from": true, "sender": true, "reply-to": true, "to": true, "cc": true,
	"bcc": true, "message-id": true, "in-reply-to": true, "references": true, "date": true, "received": true,
	"return-path": true, "mime-version": true, "content-type": true, "content-transfer-encoding": true,
	"content-id": true, "content-disposition": true, "keywords": true}

func encodable(name string) bool {
	n := strings.ToLower(name)
	if encodableFields[n] {
		return true
	}
	if structuredFields[n] || strings.HasPrefix(n, "resent-") || strings.HasPrefix(n, "list-") ||
		strings.HasPrefix(n, "arc-") || strings.HasSuffix(n, "-signature") || strings.HasSuffix(n, "-results") {
		return false
	}
	return strings.HasPrefix(n, "x-")
}

// sevenBitHeader makes a header section 7-bit: fields with no byte above
// 127 are kept as they are, unstructured ones are RFC 2047-encoded, and
// the others are left out; dropped names them (each once, in order; a
// name that is not itself ASCII as "?").
func sevenBitHeader(h []byte) (out []byte, dropped []string) {
	out = make([]byte, 0, len(h)+len(h)/2)
	seen := map[string]bool{}
	for len(h) > 0 {
		// One field: its first line and the continuation lines after it.
		end := 0
		for {
			nl := bytes.IndexByte(h[end:], '\n')
			if nl < 0 {
				end = len(h)
				break
			}
			end += nl + 1
			if end >= len(h) || (h[end] != ' ' && h[end] != '\t') {
				break
			}
		}
		f := h[:end]
		h = h[end:]
		if !Has8bit(f) {
			out = append(out, f...)
			continue
		}
		name, value, ok := bytes.Cut(f, []byte(":"))
		sname := string(bytes.TrimRight(name, " \t"))
		if ok && isFieldName(sname) && encodable(sname) {
			out = append(out, encodeField(sname, string(value))...)
			continue
		}
		if !ok || !isFieldName(sname) {
			sname = "?"
		}
		if !seen[strings.ToLower(sname)] {
			seen[strings.ToLower(sname)] = true
			dropped = append(dropped, sname)
		}
	}
	return out, dropped
}

// fieldList names dropped fields for the human-readable part, bounded
// (the names are the sender's text: a header section of many distinct
// fields must not make the DSN bigger than bounce_size_limit allows):
// at most 10 names of at most 40 characters, then how many more.
func fieldList(names []string) string {
	const most, long = 10, 40
	var b strings.Builder
	for i, n := range names {
		if i == most {
			fmt.Fprintf(&b, " and %d more", len(names)-most)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		if len(n) > long {
			n = n[:long] + "..."
		}
		b.WriteString(n)
	}
	return b.String()
}

// isFieldName: printable ASCII but the colon (RFC 5322 §3.6.8).
func isFieldName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 33 || s[i] > 126 || s[i] == ':' {
			return false
		}
	}
	return true
}

// lineBreaksRemoved unfolds a field value (built once).
var lineBreaksRemoved = strings.NewReplacer("\r\n", "", "\n", "", "\r", "")

// encodeField writes name and the unfolded value as RFC 2047 Q-encoded
// UTF-8 words (invalid UTF-8 as U+FFFD), one word a line, no line over
// 76 characters (but for a field name that long itself).
func encodeField(name, value string) []byte {
	v := lineBreaksRemoved.Replace(value)
	v = strings.TrimLeft(v, " \t")
	v = strings.ToValidUTF8(v, "\uFFFD")
	words := strings.Fields(mime.QEncoding.Encode("utf-8", v)) // encoded words hold no space
	var b strings.Builder
	b.WriteString(name + ":")
	for i, w := range words {
		// RFC 2047 §2: a line with an encoded word is at most 76
		// characters; the encoder's words are at most 75.
		if i > 0 || len(name)+2+len(w) > 76 {
			b.WriteString("\r\n")
		}
		b.WriteString(" " + w)
	}
	b.WriteString("\r\n")
	return []byte(b.String())
}

// xtextAddr writes an address for a DSN's typed-address fields: an ASCII
// address as "rfc822; addr", any other as "utf-8; " and its
// utf-8-addr-xtext (global: utf-8-addr-unitext, which keeps the
// non-ASCII characters; RFC 6533 §3).
func xtextAddr(addr string, global bool) string {
	if isASCII(addr) {
		return "rfc822; " + addr
	}
	return "utf-8; " + utf8AddrText(addr, global)
}

// utf8AddrText is RFC 6533's utf-8-addr-xtext of s (unitext: characters
// above ASCII kept as they are): "+", "=", "\", controls, space and
// (xtext) every character above ASCII as \x{HEX}. Invalid UTF-8 is
// written as U+FFFD. mailaddr.UTF8AddrXtext, the encoder the ORCPT on
// the wire uses too.
func utf8AddrText(s string, unitext bool) string { return mailaddr.UTF8AddrXtext(s, unitext) }

// dsnText is a line of a delivery-status field: one line, and 7-bit
// ("?" for each byte above 127) unless global (valid UTF-8 then). It
// comes from the network (a next hop's reply, an ENVID): each byte that
// is not UTF-8 and each control character (an ESC, DEL, a C1 control)
// is "?" too, so that the sender's mail reader is given text, not
// commands.
func dsnText(s string, global bool) string {
	return plainText(oneLine(s), !global)
}

// plainText is s with "?" for each byte that is not UTF-8 and for each
// control character but tab, CR and LF (C0, DEL, C1), and, with ascii,
// for each byte above 127.
func plainText(s string, ascii bool) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' && c != '\r' && c != '\n' || c >= 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r < 0x20 && r != '\t' && r != '\r' && r != '\n', r == 0x7f:
			b = append(b, '?')
		case r == utf8.RuneError && n == 1, r >= 0x80 && r < 0xa0:
			b = append(b, strings.Repeat("?", n)...)
		case r >= 0x80 && ascii:
			b = append(b, strings.Repeat("?", n)...)
		default:
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return string(b)
}

// readablePart is the human-readable part's transfer encoding header and
// body: as it is when ASCII, else quoted-printable of its valid UTF-8
// (its network text has been through plainText: "?" for a byte that is
// not UTF-8).
func readablePart(text string) (cte, body string) {
	if isASCII(text) {
		return "", text
	}
	var b strings.Builder
	w := quotedprintable.NewWriter(&b)
	w.Write([]byte(strings.ToValidUTF8(text, "\uFFFD")))
	w.Close()
	return "Content-Transfer-Encoding: quoted-printable", b.String()
}
